"""A replay killed with SIGKILL and resumed re-sends nothing a receiver acknowledged: only items in flight at
the kill may arrive twice (and the receiver dedupes those by event id)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import orjson

from console.ingest.service import ingest_sources
from console.store import Store
from console.store.recount import verify_derived_state
from tests.helpers import item_states, log_line, replay_cli, start_replay, write_jsonl
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints

SPEC = EndpointSpec("ep_std", "standard", ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",))
EVENTS = 150


def test_sigkill_mid_job_then_resume(store: Store, tmp_path: Path) -> None:
    lines = [
        log_line(f"evt_{i:04d}", "ep_std", 1, attempted_at="2026-05-05T10:00:00Z", status_code=503)
        for i in range(EVENTS)
    ]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])
    receiver = IndependentReceiver({"ep_std": ("standard", SPEC.secrets[0])}, latency_s=0.03)
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, [SPEC])
        process = start_replay(store, config, "--yes", "--concurrency", "4", "--json")
        try:
            deadline = time.monotonic() + 60
            while sum(receiver.acks.values()) < 40:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "the replay did not get going"
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        acked_at_kill = set(event for _, event in receiver.acks)
        states = item_states(store)
        delivered_before = {e for e, s in states.items() if s == "delivered"}
        in_flight = {e for e, s in states.items() if s == "sending"}
        assert 0 < len(delivered_before) < EVENTS
        assert delivered_before <= acked_at_kill
        [job] = orjson.loads(replay_cli(store, config, "list", "--json").stdout)
        assert job["state"] == "running"  # the killed runner could not say otherwise
        resumed = replay_cli(store, config, "resume", job["id"], "--yes", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert f"({len(in_flight)} were in flight when it stopped)" in resumed.stderr
    final = orjson.loads(resumed.stdout)
    assert final["state"] == "done" and final["counts"]["delivered"] == EVENTS
    assert {event for _, event in receiver.acks} == {f"evt_{i:04d}" for i in range(EVENTS)}
    twice = {event for (_, event), n in receiver.acks.items() if n > 1}
    assert twice <= in_flight  # only what was in flight at the kill arrived again
    assert all(receiver.acks[("ep_std", e)] == 1 for e in delivered_before)
    assert verify_derived_state(store) == []
    with store.read() as conn:
        assert (
            conn.exec_driver_sql("SELECT COUNT(*) FROM delivery WHERE delivered_at IS NULL").scalar_one() == 0
        )
        assert (
            conn.exec_driver_sql("SELECT COUNT(*) FROM delivery WHERE claim_job IS NOT NULL").scalar_one()
            == 0
        )
