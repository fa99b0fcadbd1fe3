"""A 24 h report on a 7-day and a 35-day store of the same traffic density: both times and their ratio (the
report reads a window, not the history; target <= 1.2), and the peak RSS of a 7-day report on the larger store
(target <= 500 MB). Each report is built and written with plotly.js inline, as `hookconsole report` does."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import END_MS, history_stores, hookconsole, report, run_child
from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_DAY, format_ms
from console.report.service import ReportOptions, write_report
from console.store import open_store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    dbs = history_stores()
    stores = {days: open_store(str(db)) for days, db in dbs.items()}
    flt = DeliveryFilter(since_ms=END_MS - MS_PER_DAY, until_ms=END_MS)
    times: dict[int, list[float]] = {7: [], 35: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for days, store in stores.items():
                started = time.perf_counter()
                path, _ = write_report(store, flt, Path(tmp) / f"r{days}.html", END_MS, ReportOptions())
                times[days].append(time.perf_counter() - started)
        size_mb = path.stat().st_size / 1e6
        seconds, rss_mb, _ = run_child(hookconsole(
            "--db", str(dbs[35]), "report", "--since", format_ms(END_MS - 7 * MS_PER_DAY), "--until", format_ms(END_MS),
            "--out", str(Path(tmp) / "week.html"),
        ))  # fmt: skip
    small, large = (statistics.median(times[d]) for d in (7, 35))
    report("report 24h", store_7d=f"{small * 1000:.0f} ms", store_35d=f"{large * 1000:.0f} ms",
           ratio=f"{large / small:.2f} (target <= 1.2)", file=f"{size_mb:.1f} MB")  # fmt: skip
    report("report 7d on the 35-day store", seconds=f"{seconds:.1f}", peak_rss=f"{rss_mb} MB (target <= 500)")


if __name__ == "__main__":
    main()
