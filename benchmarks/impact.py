"""The replay's impact preview (users, rewards, amounts, time span, superseded events, latency) over 100k selected
deliveries of the 35-day store, in the store's SQL (target: well under a second), on SQLite and on PostgreSQL
(the same store copied into a schema of the test server, kept between runs)."""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import time
from pathlib import Path

from benchmarks.common import history_stores, report
from console.domain.filters import DeliveryFilter, DeliveryState
from console.store import Store, open_store
from console.store.impact import replay_impact

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "hc_bench_impact"
COPIED = ("endpoint", "event", "delivery", "rollup_minute")  # what the preview reads
BATCH = 10_000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL row")
    args = parser.parse_args(argv)
    db = _own_copy(history_stores()[35])
    _row("sqlite", open_store(str(db)), args)
    if not args.no_postgres:
        _row("postgresql", open_store(_postgres_copy(db)), args)


def _row(name: str, store: Store, args: argparse.Namespace) -> None:
    flt = DeliveryFilter(state=DeliveryState.ANY)  # forced: every delivery counts as selected
    times: list[float] = []
    cpu: list[float] = []  # the machine may be shared: CPU time says what the preview itself costs
    for _ in range(args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        figures = replay_impact(store, flt, limit=args.deliveries, force=True)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    store.close()
    report(
        f"replay impact preview on the 35-day store ({name})",
        deliveries=f"{figures.deliveries:,}",
        users=f"{figures.users:,}",
        rewards=f"{figures.rewards:,}",
        superseded=f"{len(figures.superseded):,}",
        preview=f"{statistics.median(times):.2f} s (target {'<= 0.4' if name == 'sqlite' else '< 1'})",
        # SQLite runs in this process; PostgreSQL's own work is in the server's
        **{"cpu" if name == "sqlite" else "client_cpu": f"{statistics.median(cpu):.2f} s"},
    )


def _own_copy(db: Path) -> Path:
    """A copy of the shared 35-day store (cached): opening it adds the superseded check's indexes, which must not
    change the store the other benchmarks measure."""
    copy = db.with_name("store-impact.db")
    if not copy.exists():
        shutil.copyfile(db, copy.with_suffix(".tmp"))
        copy.with_suffix(".tmp").rename(copy)
    return copy


def _postgres_copy(db: Path) -> str:
    """The tables the preview reads, copied from the SQLite store into a schema of their own (kept while the
    SQLite store is unchanged)."""
    import psycopg

    url = f"{PG_URL}?options=-csearch_path%3D{PG_SCHEMA}"
    source_id = f"{db.stat().st_size}:{db.stat().st_mtime_ns}"
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        done = (
            conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'meta'",
                (PG_SCHEMA,),
            ).fetchone()
            and conn.execute(f"SELECT value FROM {PG_SCHEMA}.meta WHERE key = 'bench_source'").fetchone()
        )
        if done and done[0] == source_id:
            return url
        conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {PG_SCHEMA}")
    open_store(url).close()
    started = time.perf_counter()
    source = sqlite3.connect(db)
    with psycopg.connect(PG_URL.replace("+psycopg", ""), options=f"-csearch_path={PG_SCHEMA}") as target:
        for table in COPIED:
            cursor = source.execute(f"SELECT * FROM {table}")
            columns = ", ".join(c[0] for c in cursor.description)
            with target.cursor() as out, out.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                while rows := cursor.fetchmany(BATCH):
                    for row in rows:
                        copy.write_row(row)
        target.execute("INSERT INTO meta (key, value) VALUES ('bench_source', %s)", (source_id,))
        target.commit()
        target.autocommit = True
        for table in COPIED:  # as autovacuum would leave a settled store: statistics, visibility map
            target.execute(f"VACUUM ANALYZE {table}")
    source.close()
    print(
        f"  (copied the 35-day store into PostgreSQL schema {PG_SCHEMA} in {time.perf_counter() - started:.0f} s)"
    )
    return url


if __name__ == "__main__":
    main()
