"""Ingest rate of `hookconsole ingest` against bare sqlite3 executemany of the same rows into the same tables.

The log is ~1M attempts (`--small` for ~200k). The baseline inserts every row the ingest left in every table
(attempts, events, deliveries, rollups, endpoints) with plain executemany, in transactions of the same size,
into a fresh store with the same schema and indexes. Target: ratio >= 0.8, peak RSS <= 300 MB.
The PostgreSQL row compares `hookconsole ingest` into PostgreSQL with a bare COPY of the same rows into the same
tables (target: ratio >= 0.6).
The one-table row compares the same ingest with a bare script that reads the same lines, decodes each with
orjson and executemanys its attempt columns into one table with the natural-key unique index and the time index
(target: ratio >= 0.5). The insert-only row times that executemany alone, over rows already decoded (no target:
it shows what the single insert costs without reading the log).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from benchmarks.common import hookconsole, report, run_child, sample_log
from console.store import open_store

TABLES = (
    "event",
    "delivery_attempt",
    "delivery",
    "rollup_minute",
    "rollup_hour",
    "failure_minute",
    "endpoint",
)
BATCH = 10_000


def _bare_sqlite(path: Path) -> sqlite3.Connection:
    """A bare autocommit connection to `path` with the store's own PRAGMA settings."""
    target = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "temp_store = FILE",
        "cache_size = -32768",
    ):
        target.execute(f"PRAGMA {pragma}")
    return target


def _insert_batches(target: sqlite3.Connection, sql: str, rows: list[Any]) -> None:
    """executemany `sql` over `rows` in transactions of BATCH rows."""
    for start in range(0, len(rows), BATCH):
        target.execute("BEGIN")
        target.executemany(sql, rows[start : start + BATCH])
        target.execute("COMMIT")


def bare_executemany(source_db: Path, target_db: Path) -> tuple[float, int]:
    """Seconds to insert every row of `source_db`'s tables into a fresh store, and the attempt count."""
    open_store(str(target_db)).close()  # same schema, same indexes
    source = sqlite3.connect(source_db)
    tables = {}
    for table in TABLES:
        cursor = source.execute(f"SELECT * FROM {table}")
        columns = [c[0] for c in cursor.description]
        tables[table] = (columns, cursor.fetchall())
    source.close()
    attempts = len(tables["delivery_attempt"][1])
    target = _bare_sqlite(target_db)
    started = time.perf_counter()
    for table, (columns, rows) in tables.items():
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        _insert_batches(target, sql, rows)
    seconds = time.perf_counter() - started
    target.close()
    return seconds, attempts


ONE_TABLE = """
CREATE TABLE attempt (
    seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, event_type TEXT NOT NULL, endpoint_id TEXT NOT NULL,
    attempt INTEGER NOT NULL, attempted_at INTEGER NOT NULL, status_code INTEGER, latency_ms REAL,
    outcome TEXT NOT NULL, error TEXT, trigger TEXT NOT NULL, replay_job_id TEXT, request_headers TEXT,
    response_excerpt TEXT
);
CREATE UNIQUE INDEX ux_attempt_natural ON attempt (event_id, endpoint_id, attempt, trigger);
CREATE INDEX ix_attempt_time ON attempt (attempted_at);
"""


ATTEMPT_COLUMNS = (
    "event_id, event_type, endpoint_id, attempt, attempted_at, status_code, latency_ms, outcome, error, trigger, "
    "replay_job_id, request_headers, response_excerpt"
)
ONE_TABLE_INSERT = f"INSERT INTO attempt ({ATTEMPT_COLUMNS}) VALUES ({', '.join('?' * 13)})"


def _one_table(target_db: Path) -> sqlite3.Connection:
    target = _bare_sqlite(target_db)
    target.executescript(ONE_TABLE)
    return target


def bare_one_table(source_db: Path, target_db: Path) -> tuple[float, int]:
    """Seconds to executemany the attempts of `source_db`, already decoded, into one indexed table."""
    source = sqlite3.connect(source_db)
    rows = source.execute(f"SELECT {ATTEMPT_COLUMNS} FROM delivery_attempt ORDER BY seq").fetchall()
    source.close()
    target = _one_table(target_db)
    started = time.perf_counter()
    _insert_batches(target, ONE_TABLE_INSERT, rows)
    seconds = time.perf_counter() - started
    target.close()
    return seconds, len(rows)


def _line_row(line: bytes) -> tuple[Any, ...]:
    """The attempt columns of one log line, the way a bare script would take them."""
    record = orjson.loads(line)
    code = record.get("status_code")
    headers = record.get("request_headers")
    attempted_at = int(datetime.fromisoformat(record["attempted_at"]).timestamp() * 1000)
    outcome = record.get("outcome") or ("success" if code and 200 <= code < 300 else "http_error")
    return (
        record["event_id"],
        record["event_type"],
        record["endpoint_id"],
        record["attempt"],
        attempted_at,
        code,
        record.get("latency_ms"),
        outcome,
        record.get("error"),
        record.get("trigger", "scheduled"),
        record.get("replay_job_id"),
        orjson.dumps(headers).decode() if headers is not None else None,
        record.get("response_body"),
    )


def bare_one_table_lines(log: Path, target_db: Path) -> tuple[float, int]:
    """Seconds for a bare script to read `log`, decode each line and executemany it into one indexed table."""
    target = _one_table(target_db)
    count = 0
    started = time.perf_counter()
    with log.open("rb") as lines:
        while batch := [_line_row(line) for line in islice(lines, BATCH)]:
            target.execute("BEGIN")
            target.executemany(ONE_TABLE_INSERT, batch)
            target.execute("COMMIT")
            count += len(batch)
    seconds = time.perf_counter() - started
    target.close()
    return seconds, count


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_schema(name: str) -> str:
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{PG_URL}?options=-csearch_path%3D{name}"


def bare_copy(source_url: str, target_url: str) -> tuple[float, int]:
    """Seconds to COPY every row of the source store's tables into a fresh store with the same schema."""
    import psycopg

    open_store(target_url).close()
    source, target = open_store(source_url), open_store(target_url)
    tables = {}
    with source.read() as conn:
        for table in TABLES:
            result = conn.exec_driver_sql(f"SELECT * FROM {table}")
            tables[table] = (list(result.keys()), [tuple(r) for r in result])
    attempts = len(tables["delivery_attempt"][1])
    raw = target.engine.raw_connection()
    driver: psycopg.Connection = raw.driver_connection  # type: ignore[assignment]
    started = time.perf_counter()
    for table, (columns, rows) in tables.items():
        for start in range(0, len(rows), BATCH):
            with (
                driver.transaction(),
                driver.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows[start : start + BATCH]:
                    copy.write_row(row)
    seconds = time.perf_counter() - started
    raw.close()
    source.close()
    target.close()
    return seconds, attempts


def postgres_row(log: Path) -> None:
    ingest_url, bare_url = _pg_schema("hc_bench_ingest"), _pg_schema("hc_bench_copy")
    seconds, rss_mb, out = run_child(hookconsole("--db", ingest_url, "ingest", str(log), "--json"))
    base_seconds, attempts = bare_copy(ingest_url, bare_url)
    assert orjson.loads(out)["accepted"] == attempts
    report(
        "ingest (postgresql)",
        attempts=f"{attempts:,}",
        ingest_rate=f"{attempts / seconds:,.0f}/s",
        bare_copy_rate=f"{attempts / base_seconds:,.0f}/s",
        ratio=f"{base_seconds / seconds:.2f} (target >= 0.6)",
        peak_rss=f"{rss_mb} MB",
    )
    for name in ("hc_bench_ingest", "hc_bench_copy"):
        _pg_schema(name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="~200k attempts instead of ~1M")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL row")
    args = parser.parse_args(argv)
    events = 37_000 if args.small else 185_000
    log = sample_log("ingest", events=events, days=7)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ingest.db"
        seconds, rss_mb, out = run_child(hookconsole("--db", str(db), "ingest", str(log), "--json"))
        summary = orjson.loads(out)
        base_seconds, attempts = bare_executemany(db, Path(tmp) / "bare.db")
        insert_seconds, insert_attempts = bare_one_table(db, Path(tmp) / "one.db")
        one_seconds, one_attempts = bare_one_table_lines(log, Path(tmp) / "lines.db")
    assert summary["accepted"] == attempts == one_attempts == insert_attempts
    ingest_rate = attempts / seconds
    bare_rate = attempts / base_seconds
    report(
        "ingest (sqlite)",
        attempts=f"{attempts:,}",
        ingest_rate=f"{ingest_rate:,.0f}/s",
        bare_executemany_rate=f"{bare_rate:,.0f}/s",
        ratio=f"{ingest_rate / bare_rate:.2f} (target >= 0.8)",
        peak_rss=f"{rss_mb} MB (target <= 300)",
    )
    report(
        "ingest (sqlite) vs one table",
        attempts=f"{attempts:,}",
        ingest_rate=f"{ingest_rate:,.0f}/s",
        one_table_rate=f"{attempts / one_seconds:,.0f}/s",
        ratio=f"{one_seconds / seconds:.2f} (target >= 0.5)",
        peak_rss=f"{rss_mb} MB (target <= 300)",
    )
    report(
        "ingest (sqlite) vs one-table insert only",
        attempts=f"{attempts:,}",
        ingest_rate=f"{ingest_rate:,.0f}/s",
        insert_only_rate=f"{attempts / insert_seconds:,.0f}/s",
        ratio=f"{insert_seconds / seconds:.2f} (no target: rows already decoded, no log read)",
    )
    if not args.no_postgres:
        postgres_row(log)


if __name__ == "__main__":
    main()
