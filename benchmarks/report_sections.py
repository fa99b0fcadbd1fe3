"""Where a report's time goes: each section of `build_report_data` timed on its own (the functions it calls,
wrapped for the run; they may nest: incident_reach runs inside find_incidents), then the page rendered and
written. `python -m benchmarks.report_sections STORE DAYS`: the report over the last DAYS days before the
benchmark logs' end; `benchmarks.large --sections` runs it on the large stores."""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import console.analytics.build as build
from benchmarks.common import END_MS
from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_DAY
from console.report.service import ReportOptions, write_page
from console.store import aggregates, frames, open_store

SECTIONS = (
    (
        build,
        (
            "read_stats",
            "_attempt_sums",
            "backlog_series",
            "top_failing_events",
            "ordering_anomalies",
            "duplicate_deliveries",
            "retries_until_success",
            "time_to_delivery",
            "find_incidents",
            "find_gaps",
            "failure_breakdowns",
            "with_payload_excerpts",
            "_replays",
        ),
    ),
    (aggregates, ("backlog_counts", "incident_reach", "undelivered_now", "resolved_now", "newest_attempt")),
    (frames, ("data_bounds", "payloads")),
)


def sections(url: str, days: int) -> tuple[float, float, list[tuple[str, float]]]:
    """(seconds building the data, seconds rendering and writing, [(section, seconds)] slowest first)."""
    spent: dict[str, float] = collections.defaultdict(float)
    saved: list[tuple[Any, str, Callable[..., Any]]] = []

    def timed(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        saved.append((owner, name, original))
        setattr(owner, name, wrapper)

    for owner, names in SECTIONS:
        for name in names:
            if hasattr(owner, name):  # a section renamed or gone is left out, not an error
                timed(owner, name)
    store = open_store(url)
    try:
        flt = DeliveryFilter(since_ms=END_MS - days * MS_PER_DAY, until_ms=END_MS)
        started = time.perf_counter()
        data = build.build_report_data(store, flt, END_MS)
        built = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            write_page(data, Path(tmp) / "r.html", ReportOptions(), END_MS, store.display_url)
            rendered = time.perf_counter() - started
    finally:
        store.close()
        for owner, name, original in saved:
            setattr(owner, name, original)
    return built, rendered, sorted(spent.items(), key=lambda item: -item[1])


def print_sections(label: str, url: str, days: int) -> None:
    built, rendered, spent = sections(url, days)
    print(
        f"  report --since {days}d sections ({label}): data {built:.1f} s, page {rendered:.1f} s", flush=True
    )
    for name, seconds in spent:
        if seconds >= 0.01:
            print(f"    {name:28} {seconds:7.2f} s {100 * seconds / built:5.1f}%", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("store", help="store URL or SQLite file")
    parser.add_argument("days", type=int, nargs="?", default=7)
    args = parser.parse_args(argv)
    print_sections(args.store, args.store, args.days)


if __name__ == "__main__":
    main()
