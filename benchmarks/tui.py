"""The console headless (run_test) on a 7-day and a 35-day store of the same traffic density: time from start to
the first painted dashboard, and the time of one live refresh (24 h window), with nothing new and with the clock
moving 2 s a refresh as a live tick does (the window slides: figures, ages and the header change). Targets:
first paint <= 1.5 s and refresh <= 100 ms on the larger store; larger/smaller ratio <= 1.3 for both. A
refresh's CPU time (the process's, both threads) is printed beside it: on a busy machine the wall time mostly
measures waiting for a core."""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from pathlib import Path

from benchmarks.common import END_MS, history_stores, report
from console.operations import Operations
from console.tui.app import make_app
from console.tui.screens.dashboard import DashboardScreen

TICK_MS = 2000  # the console's default refresh interval


async def refresh(pilot, screen: DashboardScreen) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """One forced refresh, until its figures are painted: (wall seconds, CPU seconds)."""
    previous = screen.snapshot
    began, cpu = time.perf_counter(), time.process_time()
    screen.load(force=True)
    while screen.snapshot is previous:
        await pilot.pause(0.002)
    await pilot.pause(0.002)
    return time.perf_counter() - began, time.process_time() - cpu


async def measure(db: Path) -> tuple[float, ...]:
    """First paint, then the medians (wall, CPU) of five refreshes with nothing new and of five with the clock
    moving."""
    now = [END_MS]
    ops = Operations(str(db), Path("sample_data/endpoints.toml"), clock=lambda: now[0])
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
        same = [await refresh(pilot, screen) for _ in range(5)]
        moving = []
        for _ in range(5):
            now[0] += TICK_MS
            moving.append(await refresh(pilot, screen))
    ops.reset()
    return first_paint, *(statistics.median(r[i] for r in runs) for runs in (same, moving) for i in (0, 1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)
    dbs = history_stores()
    results: dict[int, list[tuple[float, ...]]] = {7: [], 35: []}
    for db in dbs.values():  # warm up once (imports, page cache), untimed
        asyncio.run(measure(db))
    for rep in range(args.repeat):  # interleaved, in alternating order: neither store always runs second
        for days, db in sorted(dbs.items(), reverse=rep % 2 == 1):
            gc.collect()  # the garbage of the runs before is not collected during this one's timing
            results[days].append(asyncio.run(measure(db)))
    median = {d: [statistics.median(r[i] for r in results[d]) for i in range(5)] for d in dbs}
    report(
        "tui first paint",
        store_7d=f"{median[7][0] * 1000:.0f} ms",
        store_35d=f"{median[35][0] * 1000:.0f} ms (target <= 1500)",
        ratio=f"{median[35][0] / median[7][0]:.2f} (target <= 1.3)",
    )
    for wall, name in ((1, "tui live refresh (24h)"), (3, "tui live refresh, clock moving (24h)")):
        report(
            name,
            store_7d=f"{median[7][wall] * 1000:.0f} ms",
            store_35d=f"{median[35][wall] * 1000:.0f} ms (target <= 100)",
            ratio=f"{median[35][wall] / median[7][wall]:.2f} (target <= 1.3)",
            cpu=f"{median[7][wall + 1] * 1000:.0f} / {median[35][wall + 1] * 1000:.0f} ms",
        )


if __name__ == "__main__":
    main()
