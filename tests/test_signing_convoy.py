"""The convoy scheme: vectors derived from Convoy's definition (HMAC-SHA256, hex, over "<t>,<body>" for the
advanced header and over the body for the simple one), and a round trip from the one sender to the sandbox
receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from pathlib import Path

import httpx
import pytest

from console.delivery import ClientPool, Message, Sender, Target
from console.endpoints import load_endpoints, resolve_secrets
from console.sandbox.receiver import Faults, Receiver
from console.signing import SignatureError, id_header, sign, verify
from tests.sandbox import EndpointSpec, serve_app, write_endpoints

SECRET = "convoy-test-secret"
ROTATED = "rotated-secret"
T = 1700000000
BODY = b'{"event":"reward.redeemed","amount":500}'
# Derived with `printf '%s' '1700000000,{"event":...}' | openssl dgst -sha256 -hmac convoy-test-secret`.
ADVANCED = "dadcdfb46322ed631e8f996f1feb8e13edbb9b0b6c69a0f80f06b4284d6b9a15"
ADVANCED_ROTATED = "593573cd10f57568bbb510f45bd148aee3b77b8910c3f5dbc49c0b8e243280f5"
SIMPLE = "b26bb4789aeb4f8a498e3905aa0eccd5bd06d1059daabdd4f5a780b5c34a95fe"


def test_advanced_header_matches_the_derived_vectors() -> None:
    headers = sign("convoy", [SECRET, ROTATED], "evt_1", T, BODY)
    assert headers == {
        "X-Convoy-Idempotency-Key": "evt_1",
        "X-Convoy-Signature": f"t={T},v1={ADVANCED},v1={ADVANCED_ROTATED}",
    }
    by_hand = hmac.new(SECRET.encode(), f"{T},".encode() + BODY, hashlib.sha256).hexdigest()
    assert by_hand == ADVANCED
    assert id_header("convoy") == "X-Convoy-Idempotency-Key"


def test_verify_accepts_advanced_simple_and_rotated_secrets() -> None:
    verify("convoy", [SECRET], {"X-Convoy-Signature": f"t={T},v1={ADVANCED}"}, BODY, now=T)
    verify("convoy", [SECRET], {"x-convoy-signature": SIMPLE}, BODY, now=T)
    # During rotation the header carries one v1 per secret; a receiver with either secret accepts it.
    header = {"X-Convoy-Signature": f"t={T},v1={ADVANCED},v1={ADVANCED_ROTATED}"}
    verify("convoy", [ROTATED], header, BODY, now=T)
    verify("convoy", ["old", SECRET], header, BODY, now=T + 10)


@pytest.mark.parametrize(
    "headers, body, now, reason",
    [
        ({}, BODY, T, "missing X-Convoy-Signature"),
        ({"X-Convoy-Signature": f"t={T},v1={ADVANCED}"}, BODY + b" ", T, "no matching signature"),
        ({"X-Convoy-Signature": f"t={T},v1={ADVANCED}"}, BODY, T + 301, "timestamp too old"),
        ({"X-Convoy-Signature": f"v1={ADVANCED}"}, BODY, T, "one t= and at least one v1="),
        ({"X-Convoy-Signature": f"t={T - 1},v1={ADVANCED}"}, BODY, T, "no matching signature"),
        ({"X-Convoy-Signature": SIMPLE[:-1] + "0"}, BODY, T, "no matching signature"),
    ],
)
def test_verify_refuses(headers: dict[str, str], body: bytes, now: int, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify("convoy", [SECRET], headers, body, now=now)


def test_round_trip_through_the_sender_and_the_sandbox_receiver(tmp_path: Path) -> None:
    specs = [EndpointSpec("ep_convoy", "convoy", (SECRET, ROTATED))]
    config = load_endpoints(write_endpoints(tmp_path, 1, specs))
    receiver = Receiver(config, Faults())
    with serve_app(receiver) as port:
        config = load_endpoints(write_endpoints(tmp_path, port, specs))
        endpoint = config.endpoints[0]
        target = Target.for_endpoint(endpoint, resolve_secrets(endpoint, tmp_path), max_tries=1)

        async def send() -> None:
            pool = ClientPool(2)
            try:
                result = await Sender(pool).send(target, Message("evt_9", "reward.redeemed", BODY))
                assert result.delivered, result
            finally:
                await pool.aclose()

        asyncio.run(send())
        forged = httpx.post(
            f"http://127.0.0.1:{port}/hooks/ep_convoy",
            content=BODY,
            headers=sign("convoy", ["not-the-secret"], "evt_10", int(time.time()), BODY),
        )
    assert forged.status_code == 401
    stats = receiver.stats()["endpoints"]["ep_convoy"]
    assert (stats["verified"], stats["rejected"], stats["acks"]) == (1, 1, {"evt_9": 1})
