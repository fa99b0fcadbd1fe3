"""Ingest on both stores: formats, idempotency, overlap, secrets kept out, a kill mid-file, and --follow."""

from __future__ import annotations

import csv
import gzip
import io
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.domain.filters import DeliveryFilter
from console.domain.kpis import StatsSnapshot
from console.domain.times import parse_rfc3339_ms
from console.ingest.follow import follow
from console.ingest.service import ingest_sources
from console.sandbox.sample import generate
from console.store import Store, open_store
from console.store.recount import verify_derived_state
from console.store.stats import read_stats
from tests.helpers import log_line, run, stored_attempts, table_count, wait_until, write_jsonl

END = parse_rfc3339_ms("2026-11-01T00:00:00Z")


@pytest.fixture(scope="module")
def sample_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    return generate(out, events=600, days=2, seed=11, end_ms=END).path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_sample_ingests_exactly_once(store: Store, sample_log: Path) -> None:
    total = len(_lines(sample_log))
    first = ingest_sources(store, [str(sample_log)], batch_size=700)
    assert (first.accepted, first.rejected, first.duplicates) == (total, 0, 0)
    again = ingest_sources(store, [str(sample_log)], batch_size=700)
    assert (again.accepted, again.rejected, again.duplicates) == (0, 0, total)
    assert table_count(store, "delivery_attempt") == total
    assert verify_derived_state(store) == []


def test_overlapping_files_add_nothing_twice(store: Store, sample_log: Path, tmp_path: Path) -> None:
    lines = _lines(sample_log)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"\n".join(lines[: len(lines) * 2 // 3]) + b"\n")
    # b starts mid-way; its events' first lines (with payloads) are in a, which goes in first.
    b.write_bytes(b"\n".join(lines[len(lines) // 3 :]) + b"\n")
    summary = ingest_sources(store, [str(a), str(b)], batch_size=500)
    overlap = len(lines) * 2 // 3 - len(lines) // 3
    assert summary.accepted == len(lines)
    assert summary.duplicates == overlap
    assert verify_derived_state(store) == []


def test_jsonl_gzip_csv_and_stdin_give_the_same_store(tmp_path: Path, sample_log: Path) -> None:
    records = [orjson.loads(line) for line in _lines(sample_log)]
    gz = tmp_path / "log.jsonl.gz"
    gz.write_bytes(gzip.compress(sample_log.read_bytes()))
    csv_path = tmp_path / "log.csv"
    columns = [
        "event_id",
        "event_type",
        "endpoint_id",
        "endpoint_url",
        "attempt",
        "attempted_at",
        "status_code",
        "latency_ms",
        "error",
        "trigger",
        "payload",
        "request_headers",
        "response_body",
    ]
    with csv_path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for r in records:
            writer.writerow(
                [
                    orjson.dumps(r[c]).decode()
                    if c in ("payload", "request_headers") and r.get(c) is not None
                    else ("" if r.get(c) is None else r[c])
                    for c in columns
                ]
            )
    stats: list[StatsSnapshot] = []
    payloads: list[list[Any]] = []
    for name, args, stdin in (
        ("jsonl", [str(sample_log)], None),
        ("gzip", [str(gz)], None),
        ("csv", [str(csv_path)], None),
        ("stdin", ["-", "--format", "jsonl"], sample_log.read_bytes()),
    ):
        db = tmp_path / f"{name}.db"
        result = run("--db", str(db), "ingest", *args, "--json", stdin=stdin)
        assert result.exit_code == 0, result.stderr
        assert orjson.loads(result.stdout)["accepted"] == len(records), name
        store = open_store(str(db))
        stats.append(read_stats(store, DeliveryFilter()))
        with store.read() as conn:
            payloads.append(sorted(conn.exec_driver_sql("SELECT event_id, payload FROM event").all()))
        store.close()
    assert stats[0].overall.attempts == len(records)
    assert all(s == stats[0] for s in stats)
    assert all(p == payloads[0] for p in payloads)


def test_payload_kept_once_as_exact_bytes_and_credentials_redacted(store: Store, tmp_path: Path) -> None:
    raw_payload = '{"event": "reward.redeemed",  "event_id": "evt_1", "amount": 500.50}'
    log = write_jsonl(
        tmp_path / "log.jsonl",
        [
            log_line(
                "evt_1",
                payload=raw_payload,
                request_headers={"Authorization": "Bearer sk_live_abc", "webhook-id": "evt_1"},
            ),
            log_line("evt_1", endpoint_id="ep_b"),
        ],
    )
    assert ingest_sources(store, [str(log)]).accepted == 2
    with store.read() as conn:
        payloads = conn.exec_driver_sql("SELECT payload, amount FROM event").fetchall()
        headers = conn.exec_driver_sql("SELECT request_headers FROM delivery_attempt").fetchall()
    assert [(bytes(p), a) for p, a in payloads] == [(raw_payload.encode(), "500.5")]
    stored = " ".join(h[0] or "" for h in headers)
    assert "sk_live_abc" not in stored and "[redacted]" in stored and "evt_1" in stored


def test_killed_mid_file_is_consistent_and_rerun_completes(tmp_path: Path) -> None:
    log = generate(tmp_path / "big", events=3000, days=3, seed=5, end_ms=END).path
    total = len(_lines(log))
    db = tmp_path / "kill.db"
    args = [sys.executable, "-m", "console", "--db", str(db), "ingest", str(log), "--batch-size", "200"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline and process.poll() is None:
            if db.exists():
                try:
                    probe = open_store(str(db))
                    stored = table_count(probe, "delivery_attempt")
                    probe.close()
                except Exception:
                    stored = 0
            if stored >= 1000:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert 0 < stored < total, "the ingest should have been killed part-way"
    store = open_store(str(db))
    try:
        part = table_count(store, "delivery_attempt")
        assert part < total
        assert verify_derived_state(store) == []
        result = run("--db", str(db), "ingest", str(log), "--json")
        summary = orjson.loads(result.stdout)
        assert summary["accepted"] + summary["duplicates"] == total
        assert summary["accepted"] == total - part
        assert table_count(store, "delivery_attempt") == total
        assert verify_derived_state(store) == []
    finally:
        store.close()


def test_follow_tails_growth_rotation_and_truncation(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "live.jsonl"
    write_jsonl(log, [log_line("evt_1"), log_line("evt_2")])
    stop = threading.Event()
    results = []
    worker = threading.Thread(
        target=lambda: results.append(follow(store, str(log), stop, poll_s=0.05, flush_s=0.1))
    )
    worker.start()
    try:
        wait_until(lambda: table_count(store, "delivery_attempt") == 2)
        with log.open("ab") as out:  # a line written in two pieces is read once, whole
            line = orjson.dumps(log_line("evt_3"))
            out.write(line[:30])
            out.flush()
            time.sleep(0.2)
            out.write(line[30:] + b"\n")
        wait_until(lambda: table_count(store, "delivery_attempt") == 3)
        log.rename(tmp_path / "live.jsonl.1")  # rotation: a new file at the same path
        write_jsonl(log, [log_line("evt_4")])
        wait_until(lambda: table_count(store, "delivery_attempt") == 4)
        write_jsonl(log, [log_line("evt_5")])  # truncation: rewritten shorter from the start
        wait_until(lambda: table_count(store, "delivery_attempt") == 5)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert results and results[0].accepted == 5 and results[0].rejected == 0
    assert verify_derived_state(store) == []


def test_ingest_follow_process_stops_on_sigint(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "live.jsonl", [log_line("evt_1")])
    db = tmp_path / "follow.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "console", "--db", str(db), "ingest", str(log), "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: stored_attempts(db) == 1)
        with log.open("ab") as out:
            out.write(orjson.dumps(log_line("evt_2")) + b"\n")
        wait_until(lambda: stored_attempts(db) == 2)
    finally:
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert orjson.loads(stdout)["accepted"] == 2


def test_csv_quoted_multiline_cells_keep_record_line_numbers(sqlite_store: Store, tmp_path: Path) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "event_id",
            "event_type",
            "endpoint_id",
            "attempt",
            "attempted_at",
            "status_code",
            "error",
            "payload",
        ]
    )
    writer.writerow(
        ["evt_1", "reward.redeemed", "ep_a", "1", "2026-05-05T10:00:00Z", "", "reset\nby peer", '{"a": 1}']
    )
    writer.writerow(["evt_1", "reward.redeemed", "ep_a", "0", "2026-05-05T10:00:00Z", "200", "", ""])
    path = tmp_path / "multi.csv"
    path.write_text(out.getvalue())
    rejects = tmp_path / "r.jsonl"
    run("--db", sqlite_store.url, "ingest", str(path), "--rejects", str(rejects))
    [entry] = [orjson.loads(x) for x in rejects.read_bytes().splitlines()]
    assert entry["line"] == 4  # the header is line 1; the first record spans lines 2-3
