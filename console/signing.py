"""Webhook signature schemes, sign and verify: pure functions over bytes (imports nothing of ours).

- standard (Standard Webhooks): `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`
  over `{id}.{timestamp}.{body}` keyed by the base64 part of a `whsec_` secret; one signature per secret.
- stripe: `Stripe-Signature: t=<ts>,v1=<hex>` over `{t}.{body}` keyed by the secret's UTF-8 bytes.
- github: `X-Hub-Signature-256: sha256=<hex>` over the body; GitHub sends one signature, so only the
  first secret signs while every secret verifies.
- convoy: `X-Convoy-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]` over `{t},{body}` keyed by the secret's UTF-8
  bytes, one v1 per secret (Convoy's "advanced" signature); verifying also accepts its "simple" form, the bare
  hex HMAC of the body. The event id goes in `X-Convoy-Idempotency-Key`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

DEFAULT_TOLERANCE_S = 300


class SignatureError(Exception):
    """A request did not verify; the message says why without echoing any secret."""


def id_header(scheme: str) -> str:
    """The header that carries the event id (receivers dedupe on it)."""
    if scheme == "convoy":
        return "X-Convoy-Idempotency-Key"
    return "X-GitHub-Delivery" if scheme == "github" else "webhook-id"


def sign(scheme: str, secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers that sign `body` for `scheme` at `timestamp` (seconds), with every given secret."""
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    if scheme == "standard":
        signed = f"{msg_id}.{timestamp}.".encode() + body
        signatures = " ".join(f"v1,{_b64_hmac(_standard_key(s), signed)}" for s in secrets)
        return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}
    if scheme == "stripe":
        signed = f"{timestamp}.".encode() + body
        parts = [f"t={timestamp}"] + [f"v1={_hex_hmac(s.encode(), signed)}" for s in secrets]
        return {"webhook-id": msg_id, "Stripe-Signature": ",".join(parts)}
    if scheme == "github":
        return {
            "X-GitHub-Delivery": msg_id,
            "X-Hub-Signature-256": "sha256=" + _hex_hmac(secrets[0].encode(), body),
        }
    if scheme == "convoy":
        signed = f"{timestamp},".encode() + body
        parts = [f"t={timestamp}"] + [f"v1={_hex_hmac(s.encode(), signed)}" for s in secrets]
        return {"X-Convoy-Idempotency-Key": msg_id, "X-Convoy-Signature": ",".join(parts)}
    raise ValueError(f"unknown signature scheme {scheme!r}")


def verify(
    scheme: str,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise SignatureError unless one of `secrets` signed `body` in `headers` within the tolerance."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if scheme == "standard":
        _verify_standard(secrets, lowered, body, now, tolerance_s)
    elif scheme == "stripe":
        _verify_stripe(secrets, lowered, body, now, tolerance_s)
    elif scheme == "github":
        _verify_github(secrets, lowered, body)
    elif scheme == "convoy":
        _verify_convoy(secrets, lowered, body, now, tolerance_s)
    else:
        raise SignatureError(f"unknown signature scheme {scheme!r}")


def _verify_standard(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: int, tol: int
) -> None:
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    header = headers.get("webhook-signature")
    if not msg_id or not stamp or not header:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    timestamp = _check_timestamp(stamp, now, tol)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    offered = [part.split(",", 1)[1] for part in header.split() if part.startswith("v1,")]
    if not offered:
        raise SignatureError("webhook-signature has no v1 signature")
    for secret in secrets:
        try:
            expected = _b64_hmac(_standard_key(secret), signed)
        except ValueError:
            continue
        if any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in offered):
            return
    raise SignatureError("no matching signature")


def _verify_stripe(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: int, tol: int
) -> None:
    header = headers.get("stripe-signature")
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp, offered = _stamped_signatures(header, "Stripe-Signature", now, tol)
    _match_hex(secrets, f"{timestamp}.".encode() + body, offered)


def _verify_github(secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> None:
    header = headers.get("x-hub-signature-256")
    if not header or not header.startswith("sha256="):
        raise SignatureError("missing X-Hub-Signature-256 header (sha256=...)")
    _match_hex(secrets, body, [header[len("sha256=") :]])


def _verify_convoy(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: int, tol: int
) -> None:
    header = headers.get("x-convoy-signature", "").strip()
    if not header:
        raise SignatureError("missing X-Convoy-Signature header")
    if "=" not in header:  # the simple form: hex HMAC of the body
        _match_hex(secrets, body, [header])
        return
    timestamp, offered = _stamped_signatures(header, "X-Convoy-Signature", now, tol)
    _match_hex(secrets, f"{timestamp},".encode() + body, [value.strip() for value in offered])


def _stamped_signatures(header: str, name: str, now: int, tol: int) -> tuple[int, list[str]]:
    """The checked t= timestamp and the v1= signatures of a `t=<ts>,v1=<hex>...` header."""
    pairs = [item.split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value for key, value in pairs if key.strip() == "t"]
    offered = [value for key, value in pairs if key.strip() == "v1"]
    if len(stamps) != 1 or not offered:
        raise SignatureError(f"{name} needs one t= and at least one v1=")
    return _check_timestamp(stamps[0], now, tol), offered


def _match_hex(secrets: Sequence[str], signed: bytes, offered: Sequence[str]) -> None:
    """Return if one secret's hex HMAC of `signed` is among `offered`."""
    for secret in secrets:
        expected = _hex_hmac(secret.encode(), signed).encode()
        if any(hmac.compare_digest(expected, candidate.encode()) for candidate in offered):
            return
    raise SignatureError("no matching signature")


def _check_timestamp(stamp: str, now: int, tolerance_s: int) -> int:
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("timestamp is not an integer") from None
    if timestamp < now - tolerance_s:
        raise SignatureError(f"timestamp too old ({now - timestamp}s, tolerance {tolerance_s}s)")
    if timestamp > now + tolerance_s:
        raise SignatureError(f"timestamp too new ({timestamp - now}s ahead, tolerance {tolerance_s}s)")
    return timestamp


def _standard_key(secret: str) -> bytes:
    encoded = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ValueError("standard-scheme secret is not base64 after whsec_") from None


def _b64_hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def _hex_hmac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# --- A shell recipe that signs and sends a request (the console's "copy as curl") ---------------------------

_HEX = "od -An -vtx1 | tr -d ' \\n'"  # bytes on stdin as lowercase hex, with tools every shell has
SECRET_ENV = "WEBHOOK_SECRET"  # the variable the snippet reads the endpoint's secret from


def curl_for(
    scheme: str,
    url: str,
    msg_id: str,
    body: bytes | None,
    body_file: str | None = None,
) -> str:
    """A bash snippet that sends `body` to `url` signed for `scheme` with the secret in `$WEBHOOK_SECRET`,
    computing the signature with openssl at run time (the secret never appears in it). The body is inlined
    when it is UTF-8 text without NUL; otherwise pass `body_file`, a file holding the exact bytes."""
    import shlex

    if scheme not in ("standard", "stripe", "github", "convoy"):
        raise ValueError(f"no curl recipe for the {scheme!r} signature scheme")
    text = None
    if body is not None and b"\x00" not in body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is None and body_file is None:
        raise ValueError("the body is not UTF-8 text: give a file that holds it")
    env, key_part = f"${{{SECRET_ENV}}}", f"${{{SECRET_ENV}#whsec_}}"
    lines = [
        f"# Sends the event again, signed ({scheme}) with the secret in ${SECRET_ENV}; needs curl and openssl.",
        f"# First: export {SECRET_ENV}='...' (the endpoint's secret; it is not written here).",
        f"id={shlex.quote(msg_id)}",
        "t=$(date +%s)",
    ]
    if text is not None:
        lines.append(f"body={shlex.quote(text)}")
        emit = "printf '%s' \"$body\""
    else:
        lines.append(f"body_file={shlex.quote(body_file or '')}")
        emit = 'cat "$body_file"'
    if scheme == "standard":
        lines += [
            f"key=$(printf '%s' \"{key_part}\" | openssl base64 -d -A | {_HEX})",
            f'sig=$({{ printf \'%s\' "$id.$t."; {emit}; }} | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key"'
            " -binary | openssl base64 -A)",
        ]
        headers = ['"webhook-id: $id"', '"webhook-timestamp: $t"', '"webhook-signature: v1,$sig"']
    elif scheme == "stripe":
        lines.append(
            f'sig=$({{ printf \'%s\' "$t."; {emit}; }} | openssl dgst -sha256 -hmac "{env}" -binary | {_HEX})'
        )
        headers = ['"webhook-id: $id"', '"Stripe-Signature: t=$t,v1=$sig"']
    elif scheme == "convoy":
        lines.append(
            f'sig=$({{ printf \'%s\' "$t,"; {emit}; }} | openssl dgst -sha256 -hmac "{env}" -binary | {_HEX})'
        )
        headers = ['"X-Convoy-Idempotency-Key: $id"', '"X-Convoy-Signature: t=$t,v1=$sig"']
    else:
        lines.append(f'sig=$({emit} | openssl dgst -sha256 -hmac "{env}" -binary | {_HEX})')
        headers = ['"X-GitHub-Delivery: $id"', '"X-Hub-Signature-256: sha256=$sig"']
    command = [f"{emit} | curl -sS -X POST {shlex.quote(url)}", "-H 'content-type: application/json'"]
    command += [f"-H {h}" for h in headers] + ["--data-binary @-"]
    lines.append(" \\\n  ".join(command))
    return "\n".join(lines) + "\n"
