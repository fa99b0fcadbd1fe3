"""Snapshots of every screen at 80x24, 120x40 (the most common width) and 160x48 (pytest-textual-snapshot;
update with --snapshot-update, then look at the SVGs that changed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from console.tui.app import HookConsoleApp
from tests.tui.conftest import settle

SIZES = [(80, 24), (120, 40), (160, 48)]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40", "160x48"])
@pytest.mark.parametrize(
    "screen, keys",
    [
        ("dashboard", ["3"]),
        ("deliveries", ["e"]),
        ("event", ["e", "enter"]),
        ("replay", ["e", "a", "r"]),
        ("jobs", ["j"]),
        ("help", ["question_mark"]),
        ("dashboard-paused", ["p"]),
        ("deliveries-empty", ["e", "slash", "z", "z", "z", "enter"]),
        ("endpoint-undelivered", ["3", "enter"]),
    ],
)
def test_screen_snapshot(
    snap_compare,
    make_console: Callable[..., HookConsoleApp],
    size: tuple[int, int],
    screen: str,
    keys: list[str],
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        # a toast (e.g. "live refresh paused", 2 s) may or may not have timed out by the capture under load:
        # the screens are compared without them (the header says paused)
        pilot.app.clear_notifications()
        await settle(pilot)

    assert snap_compare(make_console(), terminal_size=size, run_before=run_before)
