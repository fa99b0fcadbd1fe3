"""The follower meets a store that fails under it, for real: SQLite locked by another connection for longer than
its busy timeout, and PostgreSQL backends terminated with pg_terminate_backend while they write. Each time the
follower says it is retrying (once per failure streak), comes back by itself, and the store ends exact: every
line or row written to the followed source stored once, none lost, none twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

import console.store.engine
from console.domain.follow import FollowState, FollowStatus
from console.ingest.follower import FollowReport
from console.ingest.service import IngestSummary
from console.sources.service import open_follower
from console.store import Store, open_store
from console.store.recount import verify_derived_state
from tests.conftest import PG_URL, _libpq_url
from tests.helpers import ROOT, log_line, table_count, wait_until, write_jsonl
from tests.source_tables import assert_stats_match, dispatcher_schema, source_url
from tests.svix_server import SvixTables
from tests.test_source_svix import APPS, T0, finals, populate


def _lines(start: int, end: int) -> list[bytes]:
    return [orjson.dumps(log_line(f"evt_{n}", f"ep_{n % 3}")) + b"\n" for n in range(start, end)]


def _append(path: Path, lines: list[bytes]) -> None:
    with path.open("ab") as out:
        out.write(b"".join(lines))


class Recorder(FollowReport):
    """What a follower reported, in order."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.recovered: list[str] = []

    def on_failed(self, status: FollowStatus, retry_in_s: float | None) -> None:
        self.failed.append(status.reason)

    def on_recovered(self, status: FollowStatus, failed_since_ms: int, tries: int) -> None:
        self.recovered.append(status.source)

    def on_stored(self, status: FollowStatus, summary: IngestSummary) -> None:
        pass


@contextmanager
def _running(follower: Any) -> Iterator[threading.Event]:
    stop = threading.Event()
    follower.start(stop)
    try:
        yield stop
    finally:
        stop.set()
        follower.thread.join(timeout=10)
    assert not follower.thread.is_alive()


def test_a_followed_file_rides_out_a_sqlite_store_locked_past_its_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console.store.engine, "SQLITE_BUSY_TIMEOUT_MS", 150)
    db = tmp_path / "store.db"
    store = open_store(f"sqlite:///{db}")
    log = write_jsonl(tmp_path / "live.jsonl", _lines(0, 5))
    report = Recorder()
    follower = open_follower(store, str(log), poll_s=0.02, flush_s=0.05, retry_s=0.05, report=report)
    try:
        with _running(follower):
            wait_until(lambda: table_count(store, "delivery_attempt") == 5)
            assert follower.status().state is FollowState.FOLLOWING
            locker = sqlite3.connect(db, timeout=0, isolation_level=None)
            try:
                locker.execute("BEGIN EXCLUSIVE")
                _append(log, _lines(5, 12))
                wait_until(lambda: follower.status().tries >= 3)  # tried again and again meanwhile
                status = follower.status()
                assert status.state is FollowState.RETRYING and status.since_ms is not None
                assert "database is locked" in status.reason and "\n" not in status.reason
                assert status.text().startswith("retrying since ")
                _append(log, _lines(12, 20))  # written while the store is locked
            finally:
                locker.rollback()
                locker.close()
            wait_until(lambda: follower.status().state is FollowState.FOLLOWING)
            wait_until(lambda: table_count(store, "delivery_attempt") == 20)
        assert len(report.failed) == 1, report.failed  # once per streak, not at every retry
        assert report.recovered == [str(log)]
        summary = follower.feed.summary
        assert (summary.accepted, summary.duplicates, summary.rejected, summary.lines) == (20, 0, 0, 20)
        assert table_count(store, "delivery_attempt") == 20 and table_count(store, "event") == 20
        assert verify_derived_state(store) == []
        assert follower.status().state is FollowState.STOPPED
    finally:
        store.close()


def _schema_of(url: str) -> str:
    return url.rsplit("search_path%3D", 1)[1]


@contextmanager
def _writes_blocked(schema: str) -> Iterator[Any]:
    """The store's tables locked by another connection (its writers wait), released at the end of the block."""
    import psycopg

    with psycopg.connect(_libpq_url(PG_URL)) as locker:
        locker.execute(f"LOCK TABLE {schema}.event, {schema}.delivery_attempt IN ACCESS EXCLUSIVE MODE")
        try:
            yield locker
        finally:
            locker.rollback()


def _terminate_waiting(application: str) -> int:
    """Terminate the backends of `application` that wait on a lock (a write under way); how many."""
    import psycopg

    with psycopg.connect(_libpq_url(PG_URL), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND wait_event_type = 'Lock'",
            (application,),
        ).fetchone()
    return int(row[0]) if row else 0


def _terminate_a_write(schema: str, application: str) -> None:
    """Block the store's writers, wait until one of `application`'s waits, and terminate its backend."""
    with _writes_blocked(schema):
        wait_until(lambda: _terminate_waiting(application) > 0, timeout=30)


def _pg_count(schema: str, table: str) -> int:
    import psycopg

    with psycopg.connect(_libpq_url(PG_URL), autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()
    return int(row[0]) if row else -1


@pytest.mark.postgres
def test_ingest_follow_rides_out_its_postgres_backend_terminated(pg_schema_url: str, tmp_path: Path) -> None:
    """`ingest --follow FILE` as a process: its store connection is killed in the middle of a write; it says
    so once, writes the batch again, and goes on reading; SIGTERM ends it with exit 0 and an exact store."""
    schema = _schema_of(pg_schema_url)
    application = f"hc_follow_{uuid.uuid4().hex[:8]}"
    open_store(pg_schema_url).close()
    log = write_jsonl(tmp_path / "live.jsonl", [])
    _append(log, _lines(0, 5))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console",
            "--db",
            f"{pg_schema_url}&application_name={application}",
            "ingest",
            str(log),
            "--follow",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(iter(process.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_until(
            lambda: _pg_count(schema, "delivery_attempt") == 5 or process.poll() is not None, timeout=30
        )
        _append(log, _lines(5, 10))
        _terminate_a_write(schema, application)
        wait_until(lambda: any("retrying" in e for e in errors) or process.poll() is not None, timeout=30)
        assert process.poll() is None, "".join(errors)
        wait_until(
            lambda: _pg_count(schema, "delivery_attempt") == 10 or process.poll() is not None, timeout=30
        )
        _append(log, _lines(10, 15))
        wait_until(
            lambda: _pg_count(schema, "delivery_attempt") == 15 or process.poll() is not None, timeout=30
        )
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
        reader.join(timeout=10)
    assert process.returncode == 0, "".join(errors)
    failures = [e for e in errors if "retrying" in e]
    assert len(failures) == 1 and "terminating connection" in failures[0], errors
    assert "password" not in "".join(errors).lower()
    assert any("following again" in e for e in errors), errors
    assert stdout.strip().splitlines()[-1].startswith("accepted 15, rejected 0, duplicates 0")
    store = open_store(pg_schema_url)
    try:
        assert table_count(store, "delivery_attempt") == 15 and table_count(store, "event") == 15
        assert verify_derived_state(store) == []
    finally:
        store.close()


@pytest.mark.postgres
def test_a_followed_svix_source_rides_out_its_postgres_store_backend_terminated(pg_schema_url: str) -> None:
    """A Svix database followed into a PostgreSQL store whose writer is killed mid-write, rows arriving
    meanwhile: the cursor moved only with the rows it covers, so the store ends equal to the tables."""
    schema = _schema_of(pg_schema_url)
    application = f"hc_follow_{uuid.uuid4().hex[:8]}"
    store_url = f"{pg_schema_url}&application_name={application}"
    store: Store = open_store(store_url)
    report = Recorder()
    with dispatcher_schema("svix") as (conn, svix_schema):
        tables = SvixTables(conn, APPS)
        populate(tables, 10)
        follower = open_follower(
            store, source_url("svix", svix_schema), every_s=0.05, retry_s=0.1, report=report
        )
        try:
            with _running(follower):
                wait_until(lambda: table_count(store, "delivery_attempt") == len(finals(conn)), timeout=30)
                with _writes_blocked(schema):
                    populate(tables, 10, seed=5, start=T0 + timedelta(days=1))  # new rows, the store failing
                    wait_until(lambda: _terminate_waiting(application) > 0, timeout=30)
                wait_until(lambda: bool(report.failed), timeout=30)
                assert "terminating connection" in report.failed[0]
                wait_until(lambda: table_count(store, "delivery_attempt") == len(finals(conn)), timeout=30)
                wait_until(lambda: follower.status().state is FollowState.FOLLOWING, timeout=30)
            assert len(report.failed) == 1 and len(report.recovered) == 1
            assert follower.feed.summary.duplicates == 0
        finally:
            store.close()
        assert_stats_match(pg_schema_url, finals(conn))
