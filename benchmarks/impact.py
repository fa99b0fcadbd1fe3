"""The replay's impact preview (users, rewards, amounts, time span, superseded events, latency) over 100k selected
deliveries of the 35-day store, in the store's SQL (target: well under a second), on SQLite and on PostgreSQL
(the same store copied into a schema of the test server, kept between runs)."""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

from benchmarks.common import history_stores, postgres_copy, report
from console.domain.filters import DeliveryFilter, DeliveryState
from console.store import Store, open_store
from console.store.impact import replay_impact

PG_SCHEMA = "hc_bench_impact"
COPIED = ("endpoint", "event", "delivery", "rollup_minute")  # what the preview reads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL row")
    args = parser.parse_args(argv)
    db = _own_copy(history_stores()[35])
    _row("sqlite", open_store(str(db)), args)
    if not args.no_postgres:
        _row("postgresql", open_store(postgres_copy(db, PG_SCHEMA, COPIED)), args)


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
        deliveries=f"{figures.impact.deliveries:,}",
        users=f"{figures.impact.users:,}",
        rewards=f"{figures.impact.rewards:,}",
        superseded=f"{sum(figures.superseded.values()):,}",
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


if __name__ == "__main__":
    main()
