"""Time to delivery and retries until success over 7 days of a store and of one with 4x its traffic.

The figure is the query work of the report's two figures (aggregates.delivery_times and
retries_until_success over the 7-day window; median of interleaved runs) on each store: from the rollups'
delivery histograms (schema 8) and from the window's deliveries (the old SQL, still used for older stores and
payload filters), their ratio between the stores (target <= 1.5x) and new against old on each. With
`--postgres`, on the same stores copied into the test PostgreSQL.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from benchmarks.common import END_MS, postgres_copy, report, sample_log, sqlite_store_from
from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_DAY
from console.store import Store, aggregates, open_store

EVENTS_PER_DAY = 4000
COPIED = ("endpoint", "event", "delivery", "rollup_minute", "rollup_hour")


def figures(store: Store, flt: DeliveryFilter, from_hists: bool) -> int:
    """Both figures, from the histograms or from the deliveries; returns how many deliveries they cover."""
    store.dialect.delivery_hists = from_hists
    times = aggregates.delivery_times(store, flt)
    retries = aggregates.retries_until_success(store, flt)
    assert sum(n for _, n in retries) == sum(t.delivered for t in times)
    return sum(t.delivered for t in times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="the same stores copied into PostgreSQL")
    args = parser.parse_args(argv)
    dbs = {
        scale: sqlite_store_from(sample_log("gaps", events=EVENTS_PER_DAY * 7 * scale, days=7), "hists")
        for scale in (1, 4)
    }
    urls = {scale: str(db) for scale, db in dbs.items()}
    if args.postgres:
        urls = {scale: postgres_copy(db, f"hc_bench_hists_{scale}x", COPIED) for scale, db in dbs.items()}
    stores = {scale: open_store(url, read_only=True) for scale, url in urls.items()}
    flt = DeliveryFilter(since_ms=END_MS - 7 * MS_PER_DAY, until_ms=END_MS)
    runs: dict[tuple[int, bool], list[float]] = {(s, h): [] for s in stores for h in (True, False)}
    delivered: dict[int, int] = {}
    for store in stores.values():  # warm up (page cache)
        figures(store, flt, True)
        figures(store, flt, False)
    for _ in range(args.repeat):  # interleaved, so load on the machine hits all four alike
        for (scale, from_hists), times in runs.items():
            timer: Callable[[], float] = time.process_time if not args.postgres else time.perf_counter
            started = timer()
            delivered[scale] = figures(stores[scale], flt, from_hists)
            times.append(timer() - started)
    ms = {key: statistics.median(values) * 1000 for key, values in runs.items()}
    kind = "PostgreSQL, wall" if args.postgres else "SQLite, CPU"
    report(
        f"time to delivery + retries until success, 7 days, 4x traffic vs 1x ({kind})",
        deliveries=f"{delivered[1]:,} / {delivered[4]:,}",
        hists=f"{ms[(1, True)]:.1f} / {ms[(4, True)]:.1f} ms = {ms[(4, True)] / ms[(1, True)]:.2f}x (target <= 1.5)",
        old_sql=f"{ms[(1, False)]:.0f} / {ms[(4, False)]:.0f} ms = {ms[(4, False)] / ms[(1, False)]:.2f}x",
        hists_vs_old=f"{ms[(1, True)] / ms[(1, False)]:.3f} / {ms[(4, True)] / ms[(4, False)]:.3f}",
    )
    for store in stores.values():
        store.close()


if __name__ == "__main__":
    main()
