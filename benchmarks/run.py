"""Run the benchmarks (`make bench`); `--all` adds the slow ones."""

from __future__ import annotations

import argparse
import importlib
import time

DEFAULT = [
    "benchmarks.ingest",
    "benchmarks.stats",
    "benchmarks.gaps",  # stats --json with the gap checks, 7 days of a store and of 4x its traffic
    "benchmarks.delivery_hists",  # time to delivery and retries, 7 days of a store and of 4x its traffic
    "benchmarks.startup",
    "benchmarks.report",
    "benchmarks.replay",
    "benchmarks.tui",
    "benchmarks.watch",
    "benchmarks.whatif",
    "benchmarks.impact",
    "benchmarks.replay_plan",  # dry-run memory, 50k against 740k deliveries
    "benchmarks.sqlite_memory",  # stats --json memory, 7 against 35 days
    "benchmarks.sources:--small",  # ~200k Svix rows: read rate against 30k/s
    "benchmarks.convoy_source",  # ~200k Convoy rows: read rate against 30k/s and the JSON Lines ingest
]
SLOW: list[str] = [
    "benchmarks.sources",  # builds ~1M Svix rows on the test PostgreSQL
    "benchmarks.replay_plan:--large",  # dry run of ~3M deliveries (builds a 3M-attempt store once)
    "benchmarks.sqlite_memory:--large",  # the same store's 35 days in stats --json
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="also run the slow, full-size benchmarks")
    parser.add_argument("only", nargs="*", help="module names to run (e.g. benchmarks.stats)")
    args = parser.parse_args()
    chosen = args.only or (DEFAULT + SLOW if args.all else DEFAULT)
    for entry in chosen:
        module, _, flags = entry.partition(":")
        started = time.perf_counter()
        importlib.import_module(module).main(flags.split() if flags else [])
        print(f"  ({module} {flags} took {time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
