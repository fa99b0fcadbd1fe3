"""The sender over real loopback sockets: retries, backoff, Retry-After, 410, redirects, timeouts, refused;
slow-drip and huge answers, NUL bytes, non-ASCII ids, and an operator's abort."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from console.delivery import (
    RESPONSE_EXCERPT_BYTES,
    ClientPool,
    Message,
    RetryPolicy,
    Sender,
    Target,
    parse_retry_after,
)
from console.domain.endpoint import Secret
from console.domain.outcomes import Outcome
from console.endpoints import load_endpoints
from console.sandbox.receiver import Faults, Receiver
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MESSAGE = Message("evt_1", "reward.redeemed", b'{"event":"reward.redeemed","event_id":"evt_1"}')


def target(port: int, **policy: Any) -> Target:
    settings = replace(RetryPolicy(base_s=0.01, cap_s=0.05, read_timeout_s=2.0), **policy)
    return Target("ep_a", f"http://127.0.0.1:{port}/hooks/ep_a", "standard", (Secret(SECRET),), settings)


@pytest.fixture
def receiver() -> IndependentReceiver:
    return IndependentReceiver({"ep_a": ("standard", SECRET)})


async def test_first_try_fails_then_delivered_with_same_id_and_fresh_signatures(
    receiver: IndependentReceiver,
) -> None:
    receiver.fail_first["evt_1"] = 2
    with serve_app(receiver) as port:
        pool = ClientPool(4)
        result = await Sender(pool).send(target(port), MESSAGE)
        await pool.aclose()
    assert result.delivered and [a.status_code for a in result.attempts] == [503, 503, 200]
    assert [a.outcome for a in result.attempts] == [Outcome.HTTP_ERROR, Outcome.HTTP_ERROR, Outcome.SUCCESS]
    assert {r["event_id"] for r in receiver.requests} == {"evt_1"}
    assert receiver.rejected == [] and receiver.acks[("ep_a", "evt_1")] == 1
    assert len({r["headers"]["webhook-signature"] for r in receiver.requests}) >= 1


async def test_receiver_down_backs_off_and_gives_up() -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delays: list[float] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    pool = ClientPool(1)
    policy = {"max_tries": 4, "base_s": 1.0, "factor": 2.0, "cap_s": 3.0}
    result = await Sender(pool, sleep=record_sleep, rng=random.Random(1)).send(
        target(port, **policy), MESSAGE
    )
    await pool.aclose()
    assert not result.delivered and result.reason == "gave up after 4 tries"
    assert [a.outcome for a in result.attempts] == [Outcome.NETWORK_ERROR] * 4
    assert all(a.error == "connection refused" for a in result.attempts)
    assert len(delays) == 3
    for n, delay in enumerate(delays, start=1):
        assert 0 <= delay <= min(3.0, 1.0 * 2 ** (n - 1))  # full jitter under the capped exponential
    assert len(set(delays)) == 3


async def test_retry_after_on_429_delays_the_next_try(receiver: IndependentReceiver) -> None:
    receiver.status_script["evt_1"] = [(429, {"retry-after": "1"})]
    with serve_app(receiver) as port:
        pool = ClientPool(1)
        result = await Sender(pool).send(target(port), MESSAGE)
        await pool.aclose()
    assert result.delivered and [a.status_code for a in result.attempts] == [429, 200]
    assert result.attempts[0].retry_after_s == 1.0
    gap = receiver.requests[1]["at"] - receiver.requests[0]["at"]
    assert gap >= 1.0


async def test_410_stops_and_3xx_and_4xx_are_not_retried(receiver: IndependentReceiver) -> None:
    receiver.status_script["evt_1"] = [(410, {})]
    receiver.status_script["evt_2"] = [(302, {"location": "http://127.0.0.1:1/elsewhere"})]
    receiver.status_script["evt_3"] = [(400, {})]
    with serve_app(receiver) as port:
        pool = ClientPool(1)
        sender = Sender(pool)
        gone = await sender.send(target(port), MESSAGE)
        moved = await sender.send(target(port), Message("evt_2", "t", b"{}"))
        bad = await sender.send(target(port), Message("evt_3", "t", b"{}"))
        await pool.aclose()
    assert gone.endpoint_gone and len(gone.attempts) == 1 and "410" in (gone.reason or "")
    assert moved.attempts[0].outcome is Outcome.HTTP_ERROR and moved.attempts[0].status_code == 302
    assert len(moved.attempts) == 1 and len(bad.attempts) == 1  # not followed, not retried
    assert len(receiver.requests) == 3


async def test_timeout_is_classified_and_retried(receiver: IndependentReceiver) -> None:
    receiver.latency_s = 1.0
    with serve_app(receiver) as port:
        pool = ClientPool(1)
        started = time.monotonic()
        result = await Sender(pool).send(target(port, read_timeout_s=0.2, max_tries=2), MESSAGE)
        await pool.aclose()
    assert [a.outcome for a in result.attempts] == [Outcome.TIMEOUT, Outcome.TIMEOUT]
    assert all(a.error and a.error.startswith("timeout") for a in result.attempts)
    assert time.monotonic() - started < 3


def test_retry_after_forms() -> None:
    assert parse_retry_after("120", 0) == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("soon", 0) is None and parse_retry_after(None, 0) is None


def sandbox_target(tmp_path: Path, faults: Faults, **policy: float) -> tuple[Receiver, Target, Path]:
    """The sandbox receiver with `faults`, and a target at its ep_a (its URL's port is set once it listens)."""
    config = write_endpoints(tmp_path, 1, [EndpointSpec("ep_a", "standard", (SECRET,))])
    return Receiver(load_endpoints(config), faults), target(1, **policy), config


def at_port(t: Target, port: int) -> Target:
    return replace(t, url=f"http://127.0.0.1:{port}/hooks/ep_a")


async def test_a_slow_drip_answer_ends_at_the_total_deadline(tmp_path: Path) -> None:
    # One byte every 0.3 s keeps every read under the 1 s timeout; the attempt as a whole must still end at 1 s.
    receiver, slow, _ = sandbox_target(
        tmp_path, Faults(drip_s=0.3, body_bytes=200), read_timeout_s=1.0, max_tries=1
    )
    with serve_app(receiver) as port:
        pool = ClientPool(1)
        started = time.monotonic()
        result = await Sender(pool).send(at_port(slow, port), MESSAGE)
        elapsed = time.monotonic() - started
        await pool.aclose()
    assert elapsed < 2.0, elapsed
    [attempt] = result.attempts
    assert attempt.outcome is Outcome.TIMEOUT and attempt.error and "within 1s" in attempt.error


async def test_only_the_excerpt_of_a_huge_answer_is_read(tmp_path: Path) -> None:
    size = 64 * 1024 * 1024
    receiver, big, _ = sandbox_target(tmp_path, Faults(body_bytes=size), read_timeout_s=20.0, max_tries=1)
    with serve_app(receiver) as port:
        pool = ClientPool(1)
        result = await Sender(pool).send(at_port(big, port), MESSAGE)
        await pool.aclose()
        deadline = time.monotonic() + 5
        while receiver.body_bytes_sent() < 64 * 1024 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the receiver notices the closed connection and stops streaming
        sent = receiver.body_bytes_sent()
    assert result.delivered
    excerpt = result.attempts[0].response_excerpt
    assert excerpt is not None and len(excerpt.encode()) <= RESPONSE_EXCERPT_BYTES
    assert sent < size // 4, sent  # the rest was never read: the connection was closed instead


async def test_a_nul_byte_in_the_answer_is_stored_as_a_replacement_character(tmp_path: Path) -> None:
    receiver, plain, _ = sandbox_target(tmp_path, Faults(nul_body=True), max_tries=1)
    with serve_app(receiver) as port:
        pool = ClientPool(1)
        result = await Sender(pool).send(at_port(plain, port), MESSAGE)
        await pool.aclose()
    excerpt = result.attempts[0].response_excerpt
    assert result.delivered and excerpt is not None
    assert "\x00" not in excerpt and "\ufffd" in excerpt


@pytest.mark.parametrize("scheme", ["standard", "stripe", "github"])
async def test_a_non_ascii_event_id_is_sent_percent_encoded_and_verifies(scheme: str) -> None:
    secret = SECRET if scheme == "standard" else "plain-secret"
    receiver = IndependentReceiver({"ep_a": (scheme, secret)})
    with serve_app(receiver) as port:
        pool = ClientPool(1)
        t = replace(target(port), scheme=scheme, secrets=(Secret(secret),))
        result = await Sender(pool).send(t, Message("evt_é", "t", b'{"id":"evt_\xc3\xa9"}'))
        await pool.aclose()
    assert result.delivered, result
    assert receiver.rejected == [] and len(receiver.requests) == 1
    assert receiver.requests[0]["event_id"] == "evt_%C3%A9"


async def test_abort_ends_an_attempt_and_a_pause_at_once(receiver: IndependentReceiver) -> None:
    receiver.status_script["evt_1"] = [(503, {"retry-after": "200"})]
    receiver.status_script["evt_2"] = []
    with serve_app(receiver) as port:
        pool = ClientPool(2)
        sender = Sender(pool)
        answered: list[int | None] = []
        waiting = asyncio.ensure_future(
            sender.send(
                target(port, max_retry_after_s=300),
                MESSAGE,
                on_attempt=lambda a: answered.append(a.status_code),
            )
        )
        while not answered:
            await asyncio.sleep(0.02)
        receiver.latency_s = 30.0
        hanging = asyncio.ensure_future(
            sender.send(target(port, read_timeout_s=60), Message("evt_2", "t", b"{}"))
        )
        while len(receiver.requests) < 2:
            await asyncio.sleep(0.02)
        started = time.monotonic()
        sender.abort()
        paused, in_flight = await asyncio.gather(waiting, hanging)
        elapsed = time.monotonic() - started
        receiver.latency_s = 0.0
        await pool.aclose()
    assert elapsed < 1.0, elapsed
    assert paused.halted and [a.status_code for a in paused.attempts] == [503]
    assert in_flight.halted and len(in_flight.attempts) == 1 and in_flight.attempts[0].status_code is None
