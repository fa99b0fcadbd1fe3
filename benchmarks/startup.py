"""Start-up cost of the command line, as a ratio to `python -c "import click, sqlalchemy"` in the same run.

Targets: `hookconsole --help` <= 1.5x and `stats --since 24h --json` on the 35-day store <= 3x the baseline
(median of interleaved runs, each a fresh process).
"""

from __future__ import annotations

import argparse
import statistics
import sys

from benchmarks.common import history_stores, hookconsole, report, run_child


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    db = str(history_stores()[35])
    commands = {
        "baseline": [sys.executable, "-c", "import click, sqlalchemy"],
        "help": hookconsole("--help"),
        "stats": hookconsole("--db", db, "stats", "--since", "24h", "--json"),
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            times[name].append(run_child(command)[0])
    base, help_s, stats_s = (statistics.median(times[n]) for n in ("baseline", "help", "stats"))
    report(
        "start-up",
        baseline=f"{base * 1000:.0f} ms",
        help=f"{help_s * 1000:.0f} ms = {help_s / base:.2f}x (target <= 1.5)",
        stats_35d=f"{stats_s * 1000:.0f} ms = {stats_s / base:.2f}x (target <= 3)",
    )


if __name__ == "__main__":
    main()
