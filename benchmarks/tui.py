"""The console headless (run_test) on a 7-day and a 35-day store of the same traffic density: time from start to
the first painted dashboard, and the time of one live refresh (24 h window). Targets: first paint <= 1.5 s and
refresh <= 100 ms on the larger store; larger/smaller ratio <= 1.3 for both."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from benchmarks.common import END_MS, history_stores, report
from console.operations import Operations
from console.tui.app import make_app
from console.tui.screens.dashboard import DashboardScreen


async def measure(db: Path) -> tuple[float, float]:
    ops = Operations(str(db), Path("sample_data/endpoints.toml"), clock=lambda: END_MS)
    app = make_app(None, "", 3600, ops=ops)
    started = time.perf_counter()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        while screen.snapshot is None:
            await pilot.pause(0.002)
        await pilot.pause(0.002)
        first_paint = time.perf_counter() - started
        screen.window = "24h"
        refreshes = []
        for _ in range(5):
            previous = screen.snapshot
            began = time.perf_counter()
            screen.load(force=True)
            while screen.snapshot is previous:
                await pilot.pause(0.002)
            await pilot.pause(0.002)
            refreshes.append(time.perf_counter() - began)
    ops.reset()
    return first_paint, statistics.median(refreshes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    dbs = history_stores()
    results: dict[int, list[tuple[float, float]]] = {7: [], 35: []}
    for _ in range(args.repeat):
        for days, db in dbs.items():
            results[days].append(asyncio.run(measure(db)))
    paint = {d: statistics.median(r[0] for r in results[d]) for d in dbs}
    refresh = {d: statistics.median(r[1] for r in results[d]) for d in dbs}
    report(
        "tui first paint",
        store_7d=f"{paint[7] * 1000:.0f} ms",
        store_35d=f"{paint[35] * 1000:.0f} ms (target <= 1500)",
        ratio=f"{paint[35] / paint[7]:.2f} (target <= 1.3)",
    )
    report(
        "tui live refresh (24h)",
        store_7d=f"{refresh[7] * 1000:.0f} ms",
        store_35d=f"{refresh[35] * 1000:.0f} ms (target <= 100)",
        ratio=f"{refresh[35] / refresh[7]:.2f} (target <= 1.3)",
    )


if __name__ == "__main__":
    main()
