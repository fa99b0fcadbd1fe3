"""The sandbox: the receiver as a real process (verify, dedupe, faults, log) and the simulator filling a store."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from console.domain.outcomes import Outcome
from console.domain.records import AttemptRecord, EventRecord
from console.endpoints import load_endpoints
from console.ingest.service import ingest_sources
from console.replay.plan import resolve_targets
from console.sandbox.receiver import Faults, Receiver
from console.sandbox.simulator import SimulationError, SimulationOptions, Simulator
from console.signing import sign
from console.store import Store
from console.store.recount import verify_derived_state
from tests.helpers import log_line, table_count, write_jsonl
from tests.sandbox import EndpointSpec, serve_app, write_endpoints

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPECS = [EndpointSpec("ep_a", "standard", (SECRET,)), EndpointSpec("ep_b", "github", ("gh",))]


@contextmanager
def receiver_process(config: Path, *args: str) -> Iterator[int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "console", "--endpoints", str(config), "receiver", "--port", "0", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline().decode()
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+) for (.+)", line)
        assert match, line
        yield int(match.group(1))
    finally:
        process.terminate()
        process.wait(timeout=10)


def _post(port: int, endpoint: str, event_id: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/hooks/{endpoint}", content=body, headers=headers, timeout=10)


def test_receiver_verifies_dedupes_and_logs(tmp_path: Path) -> None:
    config = write_endpoints(tmp_path, 1, SPECS)  # the receiver routes by path, whatever the port in the URLs
    log = tmp_path / "received.jsonl"
    body = b'{"event":"reward.redeemed","event_id":"evt_1"}'
    with receiver_process(config, "--log", str(log)) as port:
        good = sign("standard", [SECRET], "evt_1", int(time.time()), body)
        assert _post(port, "ep_a", "evt_1", body, good).status_code == 200
        assert _post(
            port, "ep_a", "evt_1", body, sign("standard", [SECRET], "evt_1", int(time.time()), body)
        ).json() == {"ok": True, "duplicate": True}
        forged = sign("standard", ["whsec_" + "QUJD" * 8], "evt_2", int(time.time()), body)
        refused = _post(port, "ep_a", "evt_2", body, forged)
        stale = _post(
            port, "ep_a", "evt_3", body, sign("standard", [SECRET], "evt_3", int(time.time()) - 3600, body)
        )
        github = _post(port, "ep_b", "evt_1", body, sign("github", ["gh"], "evt_1", 0, body))
        missing = httpx.post(f"http://127.0.0.1:{port}/hooks/nope", content=body)
        stats = httpx.get(f"http://127.0.0.1:{port}/_receiver/stats").json()
    assert refused.status_code == 401 and "no matching signature" in refused.json()["reason"]
    assert stale.status_code == 401 and "timestamp too old" in stale.json()["reason"]
    assert github.status_code == 200 and missing.status_code == 404
    assert stats["endpoints"]["ep_a"] | {"acks": None} == {
        "received": 4,
        "verified": 2,
        "rejected": 2,
        "faulted": 0,
        "acknowledged": 2,
        "unique_events": 1,
        "duplicates": 1,
        "acks": None,
    }
    entries = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert [e["status"] for e in entries] == [200, 200, 401, 401, 200]
    assert entries[1]["duplicate"] is True and entries[2]["verified"] is False
    assert SECRET not in log.read_text()


def test_receiver_injects_faults(tmp_path: Path) -> None:
    config = write_endpoints(tmp_path, 1, SPECS)
    body = b"{}"
    with receiver_process(
        config, "--fail-rate", "1", "--status", "429", "--retry-after", "7", "--endpoint", "ep_a"
    ) as port:
        answer = _post(
            port, "ep_a", "evt_1", body, sign("standard", [SECRET], "evt_1", int(time.time()), body)
        )
        other = _post(port, "ep_b", "evt_1", body, sign("github", ["gh"], "evt_1", 0, body))
    assert answer.status_code == 429 and answer.headers["retry-after"] == "7"
    assert other.status_code == 404  # only ep_a is served


def test_receiver_down_for_a_while_then_up(tmp_path: Path) -> None:
    config = load_endpoints(write_endpoints(tmp_path, 1, SPECS))
    receiver = Receiver(config, Faults(down_for_s=0.5))
    body = b"{}"
    with serve_app(receiver) as port:
        first = _post(port, "ep_b", "e", body, sign("github", ["gh"], "e", 0, body))
        time.sleep(0.6)
        later = _post(port, "ep_b", "e", body, sign("github", ["gh"], "e", 0, body))
    assert (first.status_code, later.status_code) == (503, 200)


def test_simulator_fills_the_store_live(store: Store, tmp_path: Path) -> None:
    receiver = Receiver(load_endpoints(write_endpoints(tmp_path, 1, SPECS)), Faults(fail_rate=0.3, seed=4))
    with serve_app(receiver) as port:
        config = load_endpoints(write_endpoints(tmp_path, port, SPECS))
        targets = resolve_targets(config, ["ep_a", "ep_b"], base_s=0.05, cap_s=0.1)
        simulator = Simulator(
            store, list(targets.values()), SimulationOptions(rate_per_s=40, duration_s=1.5, seed=2)
        )
        seen_during: list[int] = []

        async def watch() -> None:
            task = asyncio.create_task(simulator.run())
            while not task.done():
                await asyncio.sleep(0.3)
                seen_during.append(await asyncio.to_thread(table_count, store, "delivery_attempt"))
            await task

        asyncio.run(watch())
    summary = simulator.summary
    assert summary.events > 20 and summary.attempts > summary.events
    assert any(0 < n < summary.attempts for n in seen_during)  # rows appeared while it ran
    assert table_count(store, "delivery_attempt") == summary.attempts
    assert table_count(store, "event") == summary.events
    stats = receiver.stats()
    assert stats["faulted"] > 0 and stats["rejected"] == 0
    assert verify_derived_state(store) == []


def _simulator(store: Store, tmp_path: Path, **options: Any) -> Simulator:
    config = load_endpoints(write_endpoints(tmp_path, 9, SPECS))  # nothing is sent: loopback, any port
    targets = resolve_targets(config, ["ep_a", "ep_b"])
    return Simulator(store, list(targets.values()), SimulationOptions(**options))


def _attempt(event: EventRecord, number: int, at_ms: int) -> AttemptRecord:
    outcome = Outcome.SUCCESS if number > 1 else Outcome.HTTP_ERROR
    return AttemptRecord(
        event.event_id, event.event_type, "ep_a", number, at_ms, outcome, 200 if number > 1 else 500
    )


def test_simulator_flushes_commit_in_order(store: Store, tmp_path: Path) -> None:
    """A flush that starts while a larger one is still being written waits for it: the retry it holds never
    reaches the store before its event."""
    simulator = _simulator(store, tmp_path, seed=1)
    now = 1_780_000_000_000
    events = [simulator._make_event(n)[0] for n in range(20_000)]  # a long first flush
    first = [_attempt(e, 1, now) for e in events]

    async def two_flushes() -> None:
        simulator._events, simulator._attempts = list(events), list(first)
        running = asyncio.create_task(simulator._flush())
        await asyncio.sleep(0)  # the first flush is under way, in its thread
        simulator._attempts = [_attempt(events[0], 2, now + 1000)]  # a retry made meanwhile
        await asyncio.wait_for(asyncio.gather(running, simulator._flush()), 60)

    asyncio.run(two_flushes())
    assert table_count(store, "delivery_attempt") == len(events) + 1
    assert verify_derived_state(store) == []


def test_simulator_stops_on_an_attempt_the_store_rejects(store: Store, tmp_path: Path) -> None:
    simulator = _simulator(store, tmp_path, rate_per_s=50, duration_s=5, seed=3)
    taken = simulator._make_event(0)[0]  # the id its first event will have, stored before with another type
    ingest_sources(
        store,
        [
            str(
                write_jsonl(
                    tmp_path / "taken.jsonl", [log_line(taken.event_id, "ep_a", event_type="x.other")]
                )
            )
        ],
    )
    receiver = Receiver(load_endpoints(write_endpoints(tmp_path, 1, SPECS)), Faults(seed=4))
    with serve_app(receiver) as port:
        config = load_endpoints(write_endpoints(tmp_path, port, SPECS))
        simulator.targets = list(resolve_targets(config, ["ep_a", "ep_b"]).values())
        with pytest.raises(SimulationError, match=f"rejected .*{taken.event_id}"):
            asyncio.run(asyncio.wait_for(simulator.run(), 30))
