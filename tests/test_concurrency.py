"""Several processes at once, on SQLite and PostgreSQL: overlapping ingesters, two operators replaying the same
selection, and readers while a writer writes. Plus: the same log gives the same figures on both stores."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from console.domain.filters import DeliveryFilter
from console.domain.kpis import snapshot_dict
from console.domain.times import parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.sandbox.sample import generate
from console.store import Store, open_store
from console.store.recount import stored_state, verify_derived_state
from console.store.stats import read_stats
from tests.helpers import log_line, write_jsonl
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints

END = parse_rfc3339_ms("2026-11-01T00:00:00Z")


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("conc"), events=2500, days=2, seed=9, end_ms=END).path


def _console(*args: str) -> list[str]:
    return [sys.executable, "-m", "console", *args]


@pytest.mark.postgres
def test_same_log_same_figures_on_both_stores(log_file: Path, pg_schema_url: str, tmp_path: Path) -> None:
    figures = []
    for url in (f"sqlite:///{tmp_path / 'a.db'}", pg_schema_url):
        store = open_store(url)
        ingest_sources(store, [str(log_file)])
        for flt in (
            DeliveryFilter(),
            DeliveryFilter(since_ms=END - 86_400_000 + 12_345, endpoint_ids=("ep_giftcards", "ep_crm")),
        ):
            figures.append(snapshot_dict(read_stats(store, flt), END))
        store.close()
    assert figures[0] == figures[2] and figures[1] == figures[3]
    attempts = figures[0]["attempts"]
    assert isinstance(attempts, int) and attempts > 10_000


def test_overlapping_ingesters_give_the_store_of_one(store_url: str, log_file: Path, tmp_path: Path) -> None:
    lines = log_file.read_bytes().splitlines()
    third = len(lines) // 3
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"\n".join(lines[: 2 * third]) + b"\n")
    b.write_bytes(b"\n".join(lines[:third] + lines[third:]) + b"\n")  # all of it, overlapping a
    open_store(store_url).close()
    env = {**os.environ, "HOOKCONSOLE_INGEST_PROCESSES": "1"}
    runs = [
        subprocess.Popen(
            _console("--db", store_url, "ingest", str(f), "--batch-size", "300", "--json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for f in (a, b)
    ]
    summaries = [orjson.loads(p.communicate(timeout=120)[0]) for p in runs]
    assert all(p.returncode == 0 for p in runs)
    assert sum(s["accepted"] for s in summaries) == len(lines)
    assert sum(s["accepted"] + s["duplicates"] for s in summaries) == 2 * third + len(lines)
    concurrent = open_store(store_url)
    single = open_store(f"sqlite:///{tmp_path / 'single.db'}")
    ingest_sources(single, [str(log_file)])
    try:
        assert verify_derived_state(concurrent) == []
        mine, theirs = stored_state(concurrent), stored_state(single)
        assert mine["delivery"] == theirs["delivery"]
        for table in ("rollup_minute", "rollup_hour", "failure_minute"):
            assert mine[table].keys() == theirs[table].keys()
    finally:
        concurrent.close()
        single.close()


def test_two_operators_replaying_the_same_selection(store: Store, tmp_path: Path) -> None:
    spec = EndpointSpec("ep_std", "standard", ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",))
    events = 300  # at 50 ms and 4 in flight each, a job takes seconds: the two operators surely overlap
    lines = [
        log_line(f"evt_{i:04d}", "ep_std", 1, attempted_at="2026-05-05T10:00:00Z", status_code=503)
        for i in range(events)
    ]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])
    receiver = IndependentReceiver({"ep_std": ("standard", spec.secrets[0])}, latency_s=0.05)
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, [spec])
        args = _console(
            "--db", store.url, "--endpoints", str(config), "replay", "--yes", "--concurrency", "4", "--json"
        )
        operators = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        jobs = [orjson.loads(p.communicate(timeout=120)[0]) for p in operators]
    assert all(p.returncode == 0 for p in operators), [p.returncode for p in operators]
    assert sorted(receiver.acks.values()) == [1] * events  # every event reached the endpoint, exactly once
    assert {event for _, event in receiver.acks} == {f"evt_{i:04d}" for i in range(events)}
    delivered = [j["counts"]["delivered"] for j in jobs]
    skipped = [j["counts"]["skipped"] for j in jobs]
    assert sum(delivered) == events
    # A job plans what is undelivered when it starts: the later one may plan a little less.
    assert [d + s for d, s in zip(delivered, skipped, strict=True)] == [j["total"] for j in jobs]
    assert min(delivered) > 0, "both operators should have sent part of the selection"
    assert verify_derived_state(store) == []


READER = """
import sys, time
from console.store import open_store
from console.store.stats import read_stats
from console.store.deliveries import page_deliveries
from console.store.live import latest_seq, recent_failures
from console.domain.filters import DeliveryFilter
store = open_store(sys.argv[1])
deadline = time.monotonic() + float(sys.argv[2])
reads = errors = 0
while time.monotonic() < deadline:
    try:
        read_stats(store, DeliveryFilter(since_ms=0))
        page_deliveries(store, DeliveryFilter(), limit=50)
        recent_failures(store, 0, 2**62, 20)
        latest_seq(store)
        reads += 1
    except Exception as exc:
        errors += 1
        print("error:", type(exc).__name__, exc, file=sys.stderr)
print(reads, errors)
"""


def test_readers_while_a_writer_writes(store_url: str, tmp_path: Path) -> None:
    log = generate(tmp_path / "big", events=6000, days=3, seed=4, end_ms=END).path
    open_store(store_url).close()
    env = {**os.environ, "HOOKCONSOLE_INGEST_PROCESSES": "1"}
    writer = subprocess.Popen(
        _console("--db", store_url, "ingest", str(log), "--batch-size", "500", "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, store_url, "12"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    started = time.monotonic()
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err.decode()
    results = [r.communicate(timeout=60) for r in readers]
    assert time.monotonic() - started < 60
    for stdout, stderr in results:
        reads, errors = map(int, stdout.split())
        assert errors == 0, stderr.decode()[-2000:]
        assert reads > 10
    assert orjson.loads(out)["rejected"] == 0
