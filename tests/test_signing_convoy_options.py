"""The convoy scheme with a project's own settings: header, versions (SHA256/SHA512, hex/base64) and the
simple or advanced form. Expected values are computed here with hmac/hashlib from Convoy's algorithm as its
pkg/signature writes it (ComputeHeaderValue, commit 2b60cc65): simple = the last version's signature of the
body with the last secret; advanced = `t=<ts>`, then for each version k one `vk=` per secret over
`<ts>,<body>`; a signature is the HMAC keyed by the secret's bytes, as lowercase hex or padded base64."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from console.delivery import ClientPool, Message, Sender, Target
from console.domain.endpoint import ConvoySigning
from console.domain.live import AttemptView
from console.endpoints import load_endpoints, resolve_secrets
from console.operations import Operations
from console.sandbox.receiver import Faults, Receiver
from console.signing import SignatureError, curl_for, sign, verify
from tests.sandbox import IndependentReceiver, serve_app

T = 1700000000
BODY = b'{"event":"reward.redeemed","data":{"reward_id":"rw_1","amount":500}}'
OLD, NEW = "convoy-old-secret", "convoy-new-secret"
DIGESTS = {"SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def by_hand(hash_name: str, encoding: str, secret: str, message: bytes) -> str:
    mac = hmac.new(secret.encode(), message, DIGESTS[hash_name]).digest()
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode()


def convoy_header(form: ConvoySigning, secrets: list[str], t: int, body: bytes) -> str:
    """Convoy's header value, written from its algorithm (not from hookconsole's code)."""
    if not form.advanced:
        hash_name, encoding = form.versions[-1]
        return by_hand(hash_name, encoding, secrets[-1], body)
    signed = str(t).encode() + b"," + body
    value = f"t={t}"
    for k, (hash_name, encoding) in enumerate(form.versions, start=1):
        for secret in secrets:
            value += f",v{k}={by_hand(hash_name, encoding, secret, signed)}"
    return value


FORMS = [
    ConvoySigning(advanced=advanced, versions=((hash_name, encoding),))
    for advanced in (True, False)
    for hash_name in ("SHA256", "SHA512")
    for encoding in ("hex", "base64")
] + [
    ConvoySigning("X-Acme-Signature", True, (("SHA256", "hex"), ("SHA512", "base64"))),
    ConvoySigning("X-Acme-Signature", False, (("SHA256", "hex"), ("SHA512", "base64"))),
]


def _name(form: ConvoySigning) -> str:
    versions = "+".join(f"{h}-{e}" for h, e in form.versions)
    return f"{'advanced' if form.advanced else 'simple'}-{versions}-{form.header}"


@pytest.mark.parametrize("form", FORMS, ids=[_name(f) for f in FORMS])
def test_signatures_equal_convoys_algorithm_and_verify(form: ConvoySigning) -> None:
    secrets = [OLD, NEW]  # a rotation: both in use, the newest last (Convoy appends it)
    headers = sign("convoy", secrets, "evt_1", T, BODY, form)
    expected = convoy_header(form, secrets, T, BODY)
    assert headers == {"X-Convoy-Idempotency-Key": "evt_1", form.header: expected}
    if form.advanced:
        assert expected.count(",v") == 2 * len(form.versions)
    else:  # one signature, by the newest secret
        assert expected == by_hand(*form.versions[-1], NEW, BODY)
    for secret in secrets if form.advanced else [NEW]:
        verify("convoy", [secret], {form.header.lower(): expected}, BODY, now=T + 10, convoy=form)
    with pytest.raises(SignatureError, match="no matching signature"):
        verify("convoy", ["not-it"], {form.header: expected}, BODY, now=T, convoy=form)
    with pytest.raises(SignatureError, match="no matching signature"):
        verify("convoy", secrets, {form.header: expected}, BODY + b" ", now=T, convoy=form)
    with pytest.raises(SignatureError, match=f"missing {form.header} header"):
        verify("convoy", secrets, {"X-Other": expected}, BODY, now=T, convoy=form)


def test_verify_matches_each_version_with_its_own_hash_and_encoding() -> None:
    form = ConvoySigning("X-Acme-Signature", True, (("SHA256", "hex"), ("SHA512", "base64")))
    signed = f"{T},".encode() + BODY
    v2 = by_hand("SHA512", "base64", NEW, signed)
    verify("convoy", [NEW], {"X-Acme-Signature": f"t={T},v2={v2}"}, BODY, now=T, convoy=form)
    verify("convoy", [NEW], {"X-Acme-Signature": f"v2={v2},t={T}"}, BODY, now=T, convoy=form)  # any order
    # the v2 signature offered as v1 is checked with v1's settings (SHA256, hex): no match
    with pytest.raises(SignatureError, match="no matching signature"):
        verify("convoy", [NEW], {"X-Acme-Signature": f"t={T},v1={v2}"}, BODY, now=T, convoy=form)
    with pytest.raises(SignatureError, match="timestamp too old"):
        verify("convoy", [NEW], {"X-Acme-Signature": f"t={T},v2={v2}"}, BODY, now=T + 301, convoy=form)
    with pytest.raises(SignatureError, match="timestamp is not an integer"):
        verify("convoy", [NEW], {"X-Acme-Signature": f"t=Infinity,v2={v2}"}, BODY, now=T, convoy=form)
    with pytest.raises(SignatureError, match="one t= and at least one v1="):
        verify("convoy", [NEW], {"X-Acme-Signature": f"v2={v2}"}, BODY, now=T, convoy=form)
    # a simple base64 signature (it ends in '=') is told from the advanced form
    simple = by_hand("SHA512", "base64", NEW, BODY)
    assert simple.endswith("=")
    verify("convoy", [NEW], {"X-Acme-Signature": simple}, BODY, now=T, convoy=form)


def _sandbox_toml(folder: Path, port: int, form_toml: str) -> Path:
    (folder / "secrets").mkdir(exist_ok=True)
    (folder / "secrets" / "old").write_text(OLD)
    (folder / "secrets" / "new").write_text(NEW)
    path = folder / "endpoints.toml"
    path.write_text(
        f'[[endpoint]]\nid = "ep_acme"\nurl = "http://127.0.0.1:{port}/hooks/ep_acme"\nscheme = "convoy"\n'
        f'secret = ["file:secrets/old", "file:secrets/new"]\n{form_toml}'
    )
    return path


FORM_TOML = (
    'convoy_header = "X-Acme-Signature"\nconvoy_advanced = false\n'
    'convoy_versions = [{ hash = "SHA256", encoding = "hex" }, { hash = "SHA512", encoding = "base64" }]\n'
)


def _send(target: Target, event_id: str) -> bool:
    async def send() -> bool:
        pool = ClientPool(2)
        try:
            result = await Sender(pool).send(target, Message(event_id, "reward.redeemed", BODY))
            return result.delivered
        finally:
            await pool.aclose()

    return asyncio.run(send())


def test_the_sender_signs_as_configured_over_http(tmp_path: Path) -> None:
    """endpoints.toml's convoy_* keys reach the sender: what goes over the wire is Convoy's header, and the
    sandbox receiver (configured from the same file) accepts it while refusing a forgery."""
    config = load_endpoints(_sandbox_toml(tmp_path, 1, FORM_TOML))
    endpoint = config.endpoints[0]
    assert endpoint.convoy == ConvoySigning(
        "X-Acme-Signature", False, (("SHA256", "hex"), ("SHA512", "base64"))
    )
    capture = IndependentReceiver({"ep_acme": ("convoy", NEW)})  # records the request whatever it verifies
    with serve_app(capture) as port:
        endpoint = load_endpoints(_sandbox_toml(tmp_path, port, FORM_TOML)).endpoints[0]
        target = Target.for_endpoint(endpoint, resolve_secrets(endpoint, tmp_path), max_tries=1)
        _send(target, "evt_1")
    sent = capture.requests[0]["headers"]
    assert sent["x-acme-signature"] == by_hand("SHA512", "base64", NEW, BODY)
    assert "x-convoy-signature" not in sent and sent["x-convoy-idempotency-key"] == "evt_1"

    receiver = Receiver(load_endpoints(_sandbox_toml(tmp_path, 1, FORM_TOML)), Faults())
    with serve_app(receiver) as port:
        endpoint = load_endpoints(_sandbox_toml(tmp_path, port, FORM_TOML)).endpoints[0]
        target = Target.for_endpoint(endpoint, resolve_secrets(endpoint, tmp_path), max_tries=1)
        assert _send(target, "evt_2")
        forged = httpx.post(
            f"http://127.0.0.1:{port}/hooks/ep_acme",
            content=BODY,
            headers={"X-Acme-Signature": by_hand("SHA512", "base64", "guess", BODY)},
        )
    assert forged.status_code == 401
    stats = receiver.stats()["endpoints"]["ep_acme"]
    assert (stats["verified"], stats["rejected"]) == (1, 1)


@pytest.mark.parametrize("advanced", [True, False])
def test_the_curl_snippet_signs_as_configured(advanced: bool) -> None:
    form = ConvoySigning("X-Acme-Signature", advanced, (("SHA256", "hex"), ("SHA512", "base64")))
    capture = IndependentReceiver({"ep_acme": ("convoy", NEW)})
    with serve_app(capture) as port:
        snippet = curl_for("convoy", f"http://127.0.0.1:{port}/hooks/ep_acme", "evt_1", BODY, convoy=form)
        env = {"PATH": os.environ["PATH"], "WEBHOOK_SECRET": NEW}
        done = subprocess.run(["bash", "-c", snippet], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    value = capture.requests[0]["headers"]["x-acme-signature"]
    stamp = int(value.split(",")[0][2:]) if advanced else T
    assert value == convoy_header(form, [NEW], stamp, BODY)
    assert NEW not in snippet


def test_the_console_checks_a_stored_attempt_with_the_configured_header(tmp_path: Path) -> None:
    """`v` on an attempt sent with the project's header: its t= is read from that header, not guessed from
    the attempt's time (an hour later here), and the configured versions are used."""
    form = ConvoySigning("X-Acme-Signature", True, (("SHA256", "hex"), ("SHA512", "base64")))
    path = _sandbox_toml(tmp_path, 9, FORM_TOML.replace("convoy_advanced = false", "convoy_advanced = true"))
    ops = Operations(str(tmp_path / "store.db"), path)
    headers = {"X-Acme-Signature": convoy_header(form, [NEW], T, BODY), "X-Convoy-Idempotency-Key": "evt_1"}
    attempt = AttemptView(
        1, "ep_acme", 1, (T + 3600) * 1000, 200, 5.0, "success", None, "manual", None, headers, None
    )
    assert ops.check_signature(attempt, BODY).startswith("signature verifies (convoy")
    assert ops.check_signature(attempt, BODY + b" ").startswith("signature does NOT verify (convoy)")
