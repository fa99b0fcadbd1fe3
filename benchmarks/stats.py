"""`stats --since 24h` on a 7-day and a 35-day store of the same traffic density.

The figure is the query work (read_stats, median of interleaved runs) on each store and their ratio: the
stats read a window from rollups, so a 5x longer history should cost about the same. Targets: ratio <= 1.2 and
under 100 ms on the larger store.
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.common import END_MS, history_stores, report
from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_DAY, MS_PER_HOUR
from console.store import open_store
from console.store.stats import read_stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    stores = {days: open_store(str(db)) for days, db in history_stores().items()}
    # The window of `stats --since 24h` run just after the logs end; not minute-aligned, like a real one.
    flt = DeliveryFilter(since_ms=END_MS - MS_PER_DAY + 17_345, until_ms=END_MS + MS_PER_HOUR)
    answers = {days: read_stats(store, flt) for days, store in stores.items()}
    assert answers[7].overall.attempts > 0
    times: dict[int, list[float]] = {7: [], 35: []}
    for _ in range(args.repeat):
        for days, store in stores.items():
            started = time.perf_counter()
            read_stats(store, flt)
            times[days].append(time.perf_counter() - started)
    small, large = (statistics.median(times[d]) * 1000 for d in (7, 35))
    report(
        "stats --since 24h",
        attempts_in_window=f"{answers[35].overall.attempts:,}",
        store_7d=f"{small:.1f} ms",
        store_35d=f"{large:.1f} ms (target < 100)",
        ratio=f"{large / small:.2f} (target <= 1.2)",
    )


if __name__ == "__main__":
    main()
