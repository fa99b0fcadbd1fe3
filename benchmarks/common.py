"""Shared benchmark helpers: cached generated logs and stores, timing, peak memory of child processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from console.domain.times import parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.sandbox.sample import generate
from console.store import open_store

DATA = Path(__file__).resolve().parent / ".data"
END_MS = parse_rfc3339_ms("2026-11-01T00:00:00Z")


def sample_log(name: str, *, events: int, days: float, seed: int = 7) -> Path:
    """A generated delivery log, cached under benchmarks/.data (delete the folder to regenerate)."""
    folder = DATA / f"{name}-{events}-{days:g}-{seed}"
    path = folder / "deliveries.jsonl"
    if not path.exists():
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        summary = generate(folder, events=events, days=days, seed=seed, end_ms=END_MS)
        print(f"  (generated {summary.attempts:,} attempts in {time.perf_counter() - started:.1f} s: {path})")
    return path


EVENTS_PER_DAY = 4000  # the traffic density of the 7-day and 35-day stores


def history_stores() -> dict[int, Path]:
    """SQLite stores holding 7 and 35 days of the same traffic density (cached)."""
    return {
        days: sqlite_store_from(sample_log("stats", events=EVENTS_PER_DAY * days, days=days), "store")
        for days in (7, 35)
    }


def sqlite_store_from(log: Path, name: str) -> Path:
    """A SQLite store holding `log`, cached next to it."""
    db = log.parent / f"{name}.db"
    if not db.exists():
        store = open_store(str(db))
        started = time.perf_counter()
        summary = ingest_sources(store, [str(log)])
        store.close()
        print(
            f"  (ingested {summary.accepted:,} attempts into {db.name} in {time.perf_counter() - started:.1f} s)"
        )
    return db


def run_child(args: list[str]) -> tuple[float, int, str]:
    """Run a command; return (seconds, peak RSS of this child in MB, stdout).

    Each call forks a fresh helper that runs the command and reports the child's own peak RSS, so earlier
    children do not mask later ones.
    """
    probe = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter();"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "d = time.perf_counter() - t;"
        "sys.stderr.write(p.stderr);"
        "print(d); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(p.returncode);"
        "sys.stdout.write(p.stdout)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True)
    seconds, rss_kb, code, *rest = done.stdout.split("\n", 3)
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({code}): {done.stderr[-2000:]}")
    return float(seconds), int(rss_kb) // 1024, rest[0] if rest else ""


def hookconsole(*args: str) -> list[str]:
    return [sys.executable, "-m", "console", *args]


def report(name: str, **figures: object) -> None:
    """Print one benchmark's figures on one line."""
    parts = ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"{name}: {parts}", flush=True)


def fill_tables(
    label: str,
    count_table: str,
    expected: int,
    ddl: str,
    columns: dict[str, str],
    rows: Callable[[str], Iterable[tuple[object, ...]]],
    after: Sequence[str] = (),
    pg: str = "postgresql://postgres@127.0.0.1:5432/test",
) -> None:
    """Write a dispatcher's tables on the test PostgreSQL with COPY (kept while `count_table` holds
    `expected` rows): `ddl` first, then each table's `rows(table)`, then the `after` statements."""
    import psycopg

    with psycopg.connect(pg, autocommit=True) as conn:
        try:
            count = conn.execute(f"SELECT count(*) FROM {count_table}").fetchone()
        except psycopg.errors.UndefinedTable:
            count = None
        if count is not None and count[0] == expected:
            return
        started = time.perf_counter()
        conn.execute(ddl)
        for table, names in columns.items():
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows(table):
                    copy.write_row(row)
        for statement in after:
            conn.execute(statement)
        print(f"  (wrote {expected:,} {label} attempts in {time.perf_counter() - started:.1f} s)", flush=True)


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_copy(db: Path, schema: str, tables: Sequence[str], batch: int = 10_000) -> str:
    """A URL to a schema of the test PostgreSQL holding `tables` copied from the SQLite store `db` (kept while
    the SQLite store is unchanged), vacuumed and analysed as autovacuum would leave a settled store."""
    import sqlite3

    import psycopg

    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    source_id = f"{db.stat().st_size}:{db.stat().st_mtime_ns}"
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        done = (
            conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'",
                (schema,),
            ).fetchone()
            and conn.execute(f"SELECT value FROM {schema}.meta WHERE key = 'bench_source'").fetchone()
        )
        if done and done[0] == source_id:
            return url
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    open_store(url).close()
    started = time.perf_counter()
    source = sqlite3.connect(db)
    with psycopg.connect(PG_URL.replace("+psycopg", ""), options=f"-csearch_path={schema}") as target:
        for table in tables:
            cursor = source.execute(f"SELECT * FROM {table}")
            columns = ", ".join(c[0] for c in cursor.description)
            with target.cursor() as out, out.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                while rows := cursor.fetchmany(batch):
                    for row in rows:
                        copy.write_row(row)
        target.execute("INSERT INTO meta (key, value) VALUES ('bench_source', %s)", (source_id,))
        target.commit()
        target.autocommit = True
        for table in tables:
            target.execute(f"VACUUM ANALYZE {table}")
    source.close()
    print(f"  (copied {db.name} into PostgreSQL schema {schema} in {time.perf_counter() - started:.0f} s)")
    return url


def history_postgres() -> str:
    """A URL to the 35-day store's tables that whatif and replay read, copied into PostgreSQL (cached)."""
    tables = ("endpoint", "event", "delivery", "delivery_attempt", "rollup_minute")
    return postgres_copy(history_stores()[35], "hc_bench_history", tables)
