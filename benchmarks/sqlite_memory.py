"""SQLite's memory bounded: `stats --json` (gap checks on) over the last 7 and the last 35 days of a SQLite
store, the command's wall time and peak RSS. The store's sorts and temporary tables spill to temporary files
(`temp_store = FILE`) rather than growing in memory, so 5x the attempts should cost about the same memory
(target: <= 300 MB; with an in-memory temp store the 35 days of the 4x-traffic store took about 460 MB).

Default: the 35-day store. `--large`: the store with 4x its traffic over the same 35 days (about 3M attempts;
built and cached on first use, which takes several minutes)."""

from __future__ import annotations

import argparse

from benchmarks.common import (
    END_MS,
    EVENTS_PER_DAY,
    history_stores,
    hookconsole,
    report,
    run_child,
    sample_log,
    sqlite_store_from,
)
from console.domain.times import MS_PER_DAY, format_ms


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="the store with 4x the traffic (slow)")
    args = parser.parse_args(argv)
    if args.large:
        name, db = (
            "4x traffic",
            sqlite_store_from(sample_log("stats", events=4 * EVENTS_PER_DAY * 35, days=35), "store"),
        )
    else:
        name, db = "35-day store", history_stores()[35]
    figures = {}
    for days in (7, 35):
        seconds, rss_mb, _ = run_child(
            hookconsole(
                "--db",
                str(db),
                "stats",
                "--since",
                format_ms(END_MS - days * MS_PER_DAY),
                "--until",
                format_ms(END_MS),
                "--json",
            )
        )
        figures[f"{days}d"] = f"{seconds:.1f} s, {rss_mb} MB"
    report(f"SQLite memory: stats --json, 7 vs 35 days ({name})", **figures, target="<= 300 MB")


if __name__ == "__main__":
    main()
