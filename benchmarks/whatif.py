"""`whatif` over the last 7 days of the 35-day store: the in-process time of one and of three schedules, and
the wall time and peak RSS of the command (targets: under 10 s and 500 MB).

Linear in the deliveries: the last 28 days hold 4x the deliveries of the last 7; one schedule over each, on
SQLite and on PostgreSQL (the store copied into a schema of the test server, kept between runs), as a range of
`--repeat` runs and the ratio of the medians (target <= 5x: reading the window in pages that each re-read it
from its start made this quadratic)."""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.common import END_MS, history_postgres, history_stores, hookconsole, report, run_child
from console.analytics.whatif import run_whatif
from console.domain.times import MS_PER_DAY, format_ms
from console.domain.whatif import Schedule, parse_schedule
from console.store import Store, open_store

SVIX = "5s,5m,30m,2h,5h,10h,10h"
OTHERS = ("1m,10m,1h", "10s,30s,1m,2m,4m,8m,16m,32m,1h,2h")
BASE_DAYS, WIDE_DAYS = 7, 28


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL linearity row")
    args = parser.parse_args(argv)
    db = history_stores()[35]
    store = open_store(str(db))
    since, until = END_MS - 7 * MS_PER_DAY, END_MS
    one, three = [parse_schedule(SVIX)], [parse_schedule(s) for s in (SVIX, *OTHERS)]
    times: dict[int, list[float]] = {1: [], 3: []}
    for _ in range(args.repeat):
        for schedules in (one, three):
            started = time.perf_counter()
            result = run_whatif(store, schedules, since, until)
            times[len(schedules)].append(time.perf_counter() - started)
    deliveries = result.policies[0].total.deliveries
    seconds, rss_mb, _ = run_child(
        hookconsole(
            "--db",
            str(db),
            "whatif",
            "--since",
            format_ms(since),
            "--until",
            format_ms(until),
            "--schedule",
            SVIX,
            "--schedule",
            OTHERS[0],
            "--schedule",
            OTHERS[1],
            "--json",
        )
    )
    report(
        "whatif 7d of the 35-day store",
        deliveries=f"{deliveries:,}",
        one_schedule=f"{statistics.median(times[1]):.2f} s",
        three_schedules=f"{statistics.median(times[3]):.2f} s",
        command=f"{seconds:.1f} s (target < 10)",
        peak_rss=f"{rss_mb} MB (target <= 500)",
    )
    _linear("sqlite", store, one, args.repeat)
    store.close()
    if not args.no_postgres:
        pg = open_store(history_postgres())
        _linear("postgresql", pg, one, args.repeat)
        pg.close()


def _linear(name: str, store: Store, schedules: list[Schedule], repeat: int) -> None:
    """One schedule over the last BASE_DAYS and the last WIDE_DAYS (4x the deliveries)."""
    runs: dict[int, list[float]] = {BASE_DAYS: [], WIDE_DAYS: []}
    deliveries: dict[int, int] = {}
    for _ in range(repeat):
        for days in runs:
            started = time.perf_counter()
            result = run_whatif(store, schedules, END_MS - days * MS_PER_DAY, END_MS)
            runs[days].append(time.perf_counter() - started)
            deliveries[days] = result.policies[0].total.deliveries
    base, wide = (statistics.median(runs[d]) for d in (BASE_DAYS, WIDE_DAYS))
    report(
        f"whatif linear in the deliveries ({name})",
        deliveries=f"{deliveries[BASE_DAYS]:,} -> {deliveries[WIDE_DAYS]:,} "
        f"({deliveries[WIDE_DAYS] / deliveries[BASE_DAYS]:.1f}x)",
        **{f"{d}d": f"{min(runs[d]):.2f}-{max(runs[d]):.2f} s" for d in runs},
        ratio=f"{wide / base:.1f}x (target <= 5)",
    )


if __name__ == "__main__":
    main()
