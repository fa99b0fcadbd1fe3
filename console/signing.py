"""Webhook signature schemes, sign and verify: pure functions over bytes (imports nothing of ours).

- standard (Standard Webhooks): `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`
  over `{id}.{timestamp}.{body}` keyed by the base64 part of a `whsec_` secret; one signature per secret.
- stripe: `Stripe-Signature: t=<ts>,v1=<hex>` over `{t}.{body}` keyed by the secret's UTF-8 bytes.
- github: `X-Hub-Signature-256: sha256=<hex>` over the body; GitHub sends one signature, so only the
  first secret signs while every secret verifies.
- convoy: as Convoy's pkg/signature does it, with the project's header (`X-Convoy-Signature` by default) and
  signature versions (each a hash, SHA256 or SHA512, and an encoding, hex or base64), keyed by the secret's
  UTF-8 bytes. Advanced form: `t=<ts>` then, for each version k (from 1), one `vk=<signature>` per secret over
  `{t},{body}`; simple form: the last version's signature of the body alone, with the last secret (Convoy's
  newest). Verifying accepts either form. The event id goes in `X-Convoy-Idempotency-Key`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

DEFAULT_TOLERANCE_S = 300
_CONVOY_HASHES = {"SHA256": "sha256", "SHA512": "sha512"}  # Convoy's names -> hashlib's (and openssl's)
_CONVOY_PAIR = re.compile(r"\s*(t|v[0-9]+)=")


class ConvoyOptions(Protocol):
    """How a Convoy project signs (the endpoint's `convoy_*` settings)."""

    @property
    def header(self) -> str: ...
    @property
    def advanced(self) -> bool: ...
    @property
    def versions(self) -> Sequence[tuple[str, str]]: ...


@dataclass(frozen=True)
class ConvoyDefaults:
    """Convoy's defaults: X-Convoy-Signature, one version (SHA256, hex), the advanced form."""

    header: str = "X-Convoy-Signature"
    advanced: bool = True
    versions: tuple[tuple[str, str], ...] = (("SHA256", "hex"),)


CONVOY_DEFAULTS = ConvoyDefaults()


class SignatureError(Exception):
    """A request did not verify; the message says why without echoing any secret."""


def id_header(scheme: str) -> str:
    """The header that carries the event id (receivers dedupe on it)."""
    if scheme == "convoy":
        return "X-Convoy-Idempotency-Key"
    return "X-GitHub-Delivery" if scheme == "github" else "webhook-id"


def sign(
    scheme: str,
    secrets: Sequence[str],
    msg_id: str,
    timestamp: int,
    body: bytes,
    convoy: ConvoyOptions = CONVOY_DEFAULTS,
) -> dict[str, str]:
    """The headers that sign `body` for `scheme` at `timestamp` (seconds), with every given secret (`convoy`:
    how, for the convoy scheme)."""
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
        return {
            "X-Convoy-Idempotency-Key": msg_id,
            convoy.header: convoy_signature(convoy, secrets, timestamp, body),
        }
    raise ValueError(f"unknown signature scheme {scheme!r}")


def convoy_signature(convoy: ConvoyOptions, secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The value of Convoy's signature header (ComputeHeaderValue in Convoy's pkg/signature)."""
    if not convoy.versions:
        raise ValueError("a Convoy signature needs at least one version (hash and encoding)")
    if not convoy.advanced:
        hash_name, encoding = convoy.versions[-1]
        return _convoy_digest(hash_name, encoding, secrets[-1], body)
    signed = f"{timestamp},".encode() + body
    parts = [f"t={timestamp}"]
    for number, (hash_name, encoding) in enumerate(convoy.versions, start=1):
        parts += [f"v{number}={_convoy_digest(hash_name, encoding, s, signed)}" for s in secrets]
    return ",".join(parts)


def _convoy_digest(hash_name: str, encoding: str, secret: str, message: bytes) -> str:
    digest = _CONVOY_HASHES.get(hash_name)
    if digest is None:
        raise ValueError(f"Convoy hash {hash_name!r} is not SHA256 or SHA512")
    mac = hmac.new(secret.encode(), message, digest).digest()
    if encoding == "hex":
        return mac.hex()
    if encoding == "base64":
        return base64.b64encode(mac).decode()
    raise ValueError(f"Convoy encoding {encoding!r} is not hex or base64")


def verify(
    scheme: str,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    convoy: ConvoyOptions = CONVOY_DEFAULTS,
) -> None:
    """Raise SignatureError unless one of `secrets` signed `body` in `headers` within the tolerance (`convoy`:
    how the convoy scheme signs)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if scheme == "standard":
        _verify_standard(secrets, lowered, body, now, tolerance_s)
    elif scheme == "stripe":
        _verify_stripe(secrets, lowered, body, now, tolerance_s)
    elif scheme == "github":
        _verify_github(secrets, lowered, body)
    elif scheme == "convoy":
        _verify_convoy(secrets, lowered, body, now, tolerance_s, convoy)
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
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: int, tol: int, convoy: ConvoyOptions
) -> None:
    name = convoy.header
    header = headers.get(name.lower(), "").strip()
    if not header:
        raise SignatureError(f"missing {name} header")
    if not _CONVOY_PAIR.match(header):  # the simple form: one signature of the body, no pairs
        candidates = [(v, body, [header]) for v in reversed(convoy.versions)]
    else:
        pairs = [item.split("=", 1) for item in header.split(",") if "=" in item]
        stamps = [value for key, value in pairs if key.strip() == "t"]
        offered: dict[int, list[str]] = {}
        for key, value in pairs:
            key = key.strip()
            if key[:1] == "v" and key[1:].isdigit():
                offered.setdefault(int(key[1:]), []).append(value.strip())
        if len(stamps) != 1 or not offered:
            raise SignatureError(f"{name} needs one t= and at least one v1=")
        signed = f"{_check_timestamp(stamps[0], now, tol)},".encode() + body
        candidates = [
            (version, signed, offered.get(number, []))
            for number, version in enumerate(convoy.versions, start=1)
        ]
    for (hash_name, encoding), message, values in candidates:
        for secret in secrets if values else ():
            try:
                expected = _convoy_digest(hash_name, encoding, secret, message).encode()
            except ValueError as exc:
                raise SignatureError(str(exc)) from None
            if any(hmac.compare_digest(expected, value.encode()) for value in values):
                return
    raise SignatureError("no matching signature")


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
    convoy: ConvoyOptions = CONVOY_DEFAULTS,
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
        lines += _convoy_lines(convoy, emit, env)
        value = (
            '"$sig"'
            if not convoy.advanced
            else '"t=$t' + "".join(f",v{n}=$sig{n}" for n in range(1, len(convoy.versions) + 1)) + '"'
        )
        headers = ['"X-Convoy-Idempotency-Key: $id"', shlex.quote(f"{convoy.header}: ") + value]
    else:
        lines.append(f'sig=$({emit} | openssl dgst -sha256 -hmac "{env}" -binary | {_HEX})')
        headers = ['"X-GitHub-Delivery: $id"', '"X-Hub-Signature-256: sha256=$sig"']
    command = [f"{emit} | curl -sS -X POST {shlex.quote(url)}", "-H 'content-type: application/json'"]
    command += [f"-H {h}" for h in headers] + ["--data-binary @-"]
    lines.append(" \\\n  ".join(command))
    return "\n".join(lines) + "\n"


def _convoy_lines(convoy: ConvoyOptions, emit: str, env: str) -> list[str]:
    """Shell lines that set $sig (simple form) or $sig1, $sig2, ... (advanced, one per version)."""

    def digest(hash_name: str, encoding: str) -> str:
        openssl = _CONVOY_HASHES.get(hash_name)
        if openssl is None or encoding not in ("hex", "base64"):
            raise ValueError(f"Convoy version {hash_name}/{encoding} is not SHA256 or SHA512, hex or base64")
        encode = _HEX if encoding == "hex" else "openssl base64 -A"
        return f'openssl dgst -{openssl} -hmac "{env}" -binary | {encode}'

    if not convoy.versions:
        raise ValueError("a Convoy signature needs at least one version (hash and encoding)")
    if not convoy.advanced:
        return [f"sig=$({emit} | {digest(*convoy.versions[-1])})"]
    return [
        f"sig{n}=$({{ printf '%s' \"$t,\"; {emit}; }} | {digest(*version)})"
        for n, version in enumerate(convoy.versions, start=1)
    ]
