"""`stats --json` with the gap checks on, over 7 days of a store and of one with 4x its traffic (and gaps).

The figure is the query work of `stats --json` (read_stats, then find_gaps; median of interleaved runs) on each
store: their ratio (the checks read state kept at ingest, so 4x the traffic should cost about the same; target
<= 1.5x), and on each store gaps on against `--no-gaps` (read_stats alone). With `--old`, the gap checks as
they were before that state (tests/gaps_oracle.py: per-delivery SQL over the window) beside them; with
`--postgres`, on the same stores copied into the test PostgreSQL.
"""

from __future__ import annotations

import argparse
import statistics
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import orjson

from benchmarks.common import END_MS, postgres_copy, report, sample_log, sqlite_store_from
from console.domain.filters import DeliveryFilter
from console.domain.gaps import GapRules
from console.domain.times import MS_PER_DAY
from console.store import Store, open_store
from console.store.gaps import find_gaps
from console.store.stats import read_stats

EVENTS_PER_DAY = 4000
# What the gap checks and the stats read, copied into PostgreSQL with --postgres.
COPIED = (
    "endpoint",
    "event",
    "delivery",
    "delivery_attempt",
    "rollup_minute",
    "rollup_hour",
    "failure_minute",
    "gap_hour_events",
    "gap_hour_received",
)


def with_gaps(log: Path) -> Path:
    """The log with gaps at a fixed rate (so 4x the traffic has 4x the gaps): about 1 in 400 deliveries never
    sent (all its lines dropped; never an event's first line, which carries the payload) and 1 in 40 second
    attempts lost (a skipped number where a third followed). Cached beside the log."""
    out = log.parent / "with-gaps" / log.name
    if out.exists():
        return out
    out.parent.mkdir(exist_ok=True)
    first_endpoint: dict[str, str] = {}
    with log.open("rb") as source, out.open("wb") as target:
        for line in source:
            row = orjson.loads(line)
            event_id, endpoint_id = row["event_id"], row["endpoint_id"]
            first = first_endpoint.setdefault(event_id, endpoint_id)
            mark = zlib.crc32(f"{event_id}/{endpoint_id}".encode())
            if endpoint_id != first and mark % 400 == 0:
                continue
            if row["attempt"] == 2 and "payload" not in row and mark % 40 == 1:
                continue
            target.write(line)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="the same stores copied into PostgreSQL")
    parser.add_argument("--old", action="store_true", help="also time the old gap SQL (tests/gaps_oracle.py)")
    args = parser.parse_args(argv)
    dbs = {
        scale: sqlite_store_from(
            with_gaps(sample_log("gaps", events=EVENTS_PER_DAY * 7 * scale, days=7)), "store"
        )
        for scale in (1, 4)
    }
    if args.postgres:
        urls = {scale: postgres_copy(db, f"hc_bench_gaps_{scale}x", COPIED) for scale, db in dbs.items()}
    else:
        urls = {scale: str(db) for scale, db in dbs.items()}
    stores = {scale: open_store(url) for scale, url in urls.items()}
    flt = DeliveryFilter(since_ms=END_MS - 7 * MS_PER_DAY + 17_345, until_ms=END_MS)
    rules = GapRules()
    now = END_MS + 3 * 60_000

    def gaps_on(store: Store) -> None:
        read_stats(store, flt)
        find_gaps(store, flt, rules, now)

    def gaps_off(store: Store) -> None:
        read_stats(store, flt)

    def gaps_only(store: Store) -> None:
        find_gaps(store, flt, rules, now)

    runs: dict[str, Callable[[Store], None]] = {"on": gaps_on, "off": gaps_off, "gaps": gaps_only}
    if args.old:
        from tests import gaps_oracle

        def old(store: Store) -> None:
            read_stats(store, flt)
            gaps_oracle.find_gaps(store, flt, rules, now)

        runs["old"] = old
    found = {scale: find_gaps(store, flt, rules, now) for scale, store in stores.items()}
    times: dict[tuple[str, int], list[float]] = {(name, scale): [] for name in runs for scale in stores}
    for _ in range(args.repeat):
        for name, run in runs.items():
            for scale, store in stores.items():
                started = time.perf_counter()
                run(store)
                times[(name, scale)].append(time.perf_counter() - started)
    ms = {key: statistics.median(values) * 1000 for key, values in times.items()}
    counts = {
        scale: f"{g.skipped_count}/{g.missing_count}/{g.stuck_count}"
        for scale, g in found.items()
        if g is not None
    }
    figures: dict[str, object] = {
        "gaps_1x_4x(skipped/missing/stuck)": f"{counts[1]} {counts[4]}",
        "on_1x": f"{ms[('on', 1)]:.0f} ms",
        "on_4x": f"{ms[('on', 4)]:.0f} ms",
        "ratio_4x": f"{ms[('on', 4)] / ms[('on', 1)]:.2f} (target <= 1.5)",
        "on_vs_no_gaps_1x": f"{ms[('on', 1)] / ms[('off', 1)]:.1f}x",
        "on_vs_no_gaps_4x": f"{ms[('on', 4)] / ms[('off', 4)]:.1f}x",
        "checks_alone_1x_4x": f"{ms[('gaps', 1)]:.1f} ms, {ms[('gaps', 4)]:.1f} ms",
    }
    if args.old:
        figures["old_1x"] = f"{ms[('old', 1)]:.0f} ms"
        figures["old_4x"] = f"{ms[('old', 4)]:.0f} ms"
        figures["old_ratio_4x"] = f"{ms[('old', 4)] / ms[('old', 1)]:.2f}"
    report(f"stats --json (gap checks) 7d, 4x traffic, {stores[1].dialect.name}", **figures)


if __name__ == "__main__":
    main()
