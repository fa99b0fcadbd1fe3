"""The report's costs, each beside a baseline measured in the same run:

- a 24 h report on the 35-day store vs a bare pandas + plotly script building the same seven figures from the
  same window and writing them with plotly.js inline (benchmarks/report_baseline.py); both in-process and
  warm (imports excluded), and both as commands (imports included). Target: <= 2.0x.
- the same 24 h report on the 7-day and the 35-day store: the report reads a window, not the history
  (target <= 1.2).
- peak RSS of `hookconsole report` over 7 and 30 days on the 35-day store (targets <= 300 MB and <= 400 MB),
  beside the bare script's peak RSS for 24 h (the floor: Python, pandas and plotly loaded)."""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import END_MS, history_stores, hookconsole, report, run_child
from benchmarks.report_baseline import build as bare_report
from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_DAY, format_ms
from console.report.service import ReportOptions, write_report
from console.store import open_store


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    dbs = history_stores()
    stores = {days: open_store(str(db)) for days, db in dbs.items()}
    since, until = END_MS - MS_PER_DAY, END_MS
    flt = DeliveryFilter(since_ms=since, until_ms=until)
    times: dict[str, list[float]] = {"7": [], "35": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        bare_report(dbs[35], since, until, out / "warm.html")  # warm both up once (page cache, lazy imports)
        write_report(stores[35], flt, out / "warm.html", END_MS, ReportOptions())
        for _ in range(args.repeat):  # interleaved, so load on the machine hits all three alike
            for days, store in stores.items():
                gc.collect()  # each run starts with the garbage of the ones before collected
                started = time.perf_counter()
                write_report(store, flt, out / f"r{days}.html", END_MS, ReportOptions())
                times[str(days)].append(time.perf_counter() - started)
            gc.collect()
            started = time.perf_counter()
            bare_report(dbs[35], since, until, out / "bare.html")
            times["bare"].append(time.perf_counter() - started)
        size_mb = (out / "r35.html").stat().st_size / 1e6
        commands: dict[str, list[float]] = {"report": [], "bare": []}
        bare_rss = 0
        for _ in range(args.repeat):  # interleaved, as above
            seconds, _, _ = run_child(
                hookconsole(
                    "--db",
                    str(dbs[35]),
                    "report",
                    "--since",
                    format_ms(since),
                    "--until",
                    format_ms(until),
                    "--out",
                    str(out / "c.html"),
                )
            )
            commands["report"].append(seconds)
            seconds, bare_rss, _ = run_child(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.report_baseline",
                    str(dbs[35]),
                    str(since),
                    str(until),
                    str(out / "b.html"),
                ]
            )
            commands["bare"].append(seconds)
        rss: dict[int, tuple[float, int]] = {}
        for days in (7, 30):
            seconds, peak, _ = run_child(
                hookconsole(
                    "--db",
                    str(dbs[35]),
                    "report",
                    "--since",
                    format_ms(until - days * MS_PER_DAY),
                    "--until",
                    format_ms(until),
                    "--out",
                    str(out / f"w{days}.html"),
                )
            )
            rss[days] = (seconds, peak)
    ours, bare = _median_ms(times["35"]), _median_ms(times["bare"])
    report(
        "report 24h vs bare pandas+plotly (in-process, warm)",
        report=f"{ours:.0f} ms",
        bare=f"{bare:.0f} ms",
        ratio=f"{ours / bare:.2f} (target <= 2.0)",
        file=f"{size_mb:.1f} MB",
    )
    ours_cmd, bare_cmd = _median_ms(commands["report"]), _median_ms(commands["bare"])
    report(
        "report 24h vs bare pandas+plotly (commands, imports included)",
        report=f"{ours_cmd:.0f} ms",
        bare=f"{bare_cmd:.0f} ms",
        ratio=f"{ours_cmd / bare_cmd:.2f} (target <= 2.0)",
    )
    small = _median_ms(times["7"])
    report(
        "report 24h, 35-day store vs 7-day store",
        store_7d=f"{small:.0f} ms",
        store_35d=f"{ours:.0f} ms",
        ratio=f"{ours / small:.2f} (target <= 1.2)",
    )
    for days, limit in ((7, 300), (30, 400)):
        seconds, peak = rss[days]
        report(
            f"report {days}d on the 35-day store",
            seconds=f"{seconds:.1f}",
            peak_rss=f"{peak} MB (target <= {limit} MB)",
            vs_bare_script=f"{peak / max(bare_rss, 1):.2f}x of {bare_rss} MB",
        )


if __name__ == "__main__":
    main()
