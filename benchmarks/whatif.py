"""`whatif` over the last 7 days of the 35-day store: the in-process time of one and of three schedules, and
the wall time and peak RSS of the command (targets: under 10 s and 500 MB)."""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.common import END_MS, history_stores, hookconsole, report, run_child
from console.analytics.whatif import run_whatif
from console.domain.times import MS_PER_DAY, format_ms
from console.domain.whatif import parse_schedule
from console.store import open_store

SVIX = "5s,5m,30m,2h,5h,10h,10h"
OTHERS = ("1m,10m,1h", "10s,30s,1m,2m,4m,8m,16m,32m,1h,2h")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
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


if __name__ == "__main__":
    main()
