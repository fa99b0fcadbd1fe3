"""The sender over real loopback sockets: retries, backoff, Retry-After, 410, redirects, timeouts, refused."""

from __future__ import annotations

import random
import socket
import time

import pytest

from console.delivery import ClientPool, Message, RetryPolicy, Sender, Target, parse_retry_after
from console.domain.endpoint import Secret
from console.domain.outcomes import Outcome
from tests.sandbox import IndependentReceiver, serve_app

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MESSAGE = Message("evt_1", "reward.redeemed", b'{"event":"reward.redeemed","event_id":"evt_1"}')


def target(port: int, **policy: float) -> Target:
    settings = {"base_s": 0.01, "cap_s": 0.05, "read_timeout_s": 2.0, **policy}
    return Target(
        "ep_a", f"http://127.0.0.1:{port}/hooks/ep_a", "standard", (Secret(SECRET),), RetryPolicy(**settings)
    )  # type: ignore[arg-type]


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
