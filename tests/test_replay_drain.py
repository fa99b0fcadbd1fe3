"""The drain estimate holds: a real job against the sandbox receiver with a set latency takes within a factor of
two of what its dry run said, the estimate coming from the latency the store measured (the first replay's own
attempts) and the job's concurrency shared by both endpoints (the runner's global limit)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from console.endpoints import load_endpoints
from console.ingest.service import ingest_sources
from console.sandbox.receiver import Faults, Receiver
from console.store import Store
from tests.helpers import log_line, replay_cli, write_jsonl
from tests.sandbox import EndpointSpec, serve_app, write_endpoints

SPECS = [EndpointSpec("ep_a"), EndpointSpec("ep_b")]
LATENCY_MS = 120
CONCURRENCY = "6"


def _dry_run(store: Store, config: Path) -> dict[str, Any]:
    result = replay_cli(store, config, "--dry-run", "--json", "--concurrency", CONCURRENCY)
    assert result.exit_code == 0, result.stderr
    plan: dict[str, Any] = orjson.loads(result.stdout)
    return plan


def test_the_estimate_is_within_a_factor_of_two_of_the_real_job(store: Store, tmp_path: Path) -> None:
    # An outage: 160 deliveries failed fast (1 ms) at two endpoints, now answering in 120 ms.
    lines = [
        log_line(
            f"evt_{i:03d}",
            SPECS[i % 2].id,
            1,
            status_code=503,
            latency_ms=1.0,
            attempted_at=f"2026-05-05T10:{i // 60:02d}:{i % 60:02d}Z",
        )
        for i in range(160)
    ]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])
    receiver = Receiver(load_endpoints(write_endpoints(tmp_path, 1, SPECS)), Faults(latency_ms=LATENCY_MS))
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, SPECS)
        # A first, small replay: its own attempts are the endpoints' recent latency in the store's rollups.
        first = replay_cli(store, config, "--limit", "12", "--yes", "--json", "--concurrency", CONCURRENCY)
        assert first.exit_code == 0, first.stderr
        plan = _dry_run(store, config)
        assert plan["to_send"] == 148
        latencies = [e["drain"]["recent_latency_ms"] for e in plan["endpoints"]]
        assert all(LATENCY_MS <= ms < 3 * LATENCY_MS for ms in latencies), latencies
        estimate = plan["drain_seconds"]
        assert isinstance(estimate, float)
        started = time.monotonic()
        result = replay_cli(store, config, "--yes", "--json", "--concurrency", CONCURRENCY)
        took = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["counts"]["delivered"] == 148
    # 148 requests of 120 ms through 6 slots: about 3 s; the endpoints' own widths alone would say half of it
    assert took / 2 <= estimate <= took * 2, (estimate, took)


def test_an_outages_fast_failures_do_not_promise_a_fast_drain(store: Store, tmp_path: Path) -> None:
    """410 deliveries failed in 1 ms each during an outage; the hour before, the endpoint answered 2xx in 150 ms.
    The estimate goes by the 150 ms (it said "<1s" for such a job that took 10 s)."""
    healthy = [
        log_line(
            f"evt_ok{i}",
            "ep_a",
            1,
            status_code=200,
            latency_ms=150.0,
            attempted_at=f"2026-05-05T08:{i:02d}:00Z",
        )
        for i in range(30)
    ]
    outage = [
        log_line(
            f"evt_{i}",
            "ep_a",
            1,
            status_code=503,
            latency_ms=1.0,
            attempted_at=f"2026-05-05T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        )
        for i in range(410)
    ]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", healthy + outage))])
    config = write_endpoints(tmp_path, 9, SPECS[:1])
    result = replay_cli(store, config, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    plan = orjson.loads(result.stdout)
    (endpoint,) = plan["endpoints"]
    assert plan["to_send"] == 410 and endpoint["drain"]["recent_latency_ms"] == 150.0
    # the probe, then 41 waves of 10 at 150 ms: 6.3 s, plus the runner's own 4 ms a request
    assert plan["drain_seconds"] == round(0.15 * 42 + 410 * 0.004, 1)
    text = replay_cli(store, config, "--dry-run").stdout
    assert "drain ep_a: ~7s (10 in flight, latency 150 ms)" in text
