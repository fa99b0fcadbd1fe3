"""A live refresh of the dashboard redraws what changed and never lays the screen out again: a layout repaints
every widget, and a few of them per refresh took the refresh past its 100 ms budget."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from console.domain.filters import DeliveryFilter
from console.store import open_store
from console.store.stats import read_stats
from console.tui.app import HookConsoleApp
from console.tui.screens.dashboard import DashboardScreen
from console.tui.widgets.kpi import KpiTile
from console.tui.widgets.line import Line, same_text
from tests.tui.conftest import END, settle


@pytest.fixture
def layouts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The screen layouts done while the test runs (Textual's private `_refresh_layout`: no public hook)."""
    done: list[str] = []
    original = Screen._refresh_layout

    def counted(screen: Screen[object], *args: object, **kwargs: object) -> None:
        done.append(type(screen).__name__)
        original(screen, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Screen, "_refresh_layout", counted)
    yield done


async def _refresh(pilot: Pilot[Any], screen: DashboardScreen) -> None:
    previous = screen.snapshot
    screen.load(force=True)
    await settle(pilot)
    assert screen.snapshot is not previous


async def test_refresh_with_nothing_new_redraws_nothing(
    make_console: Callable[..., HookConsoleApp], layouts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_console()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        shown = [line.text for line in screen.query(Line)]
        assert any("updated 00:00:00" in str(text) for text in shown)
        redrawn: list[str | None] = []
        update = Static.update

        def recorded(widget: Static, *args: object, **kwargs: object) -> None:
            redrawn.append(widget.id)
            update(widget, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Static, "update", recorded)
        layouts.clear()
        await _refresh(pilot, screen)
        assert layouts == [] and redrawn == []
        assert [line.text for line in screen.query(Line)] == shown


async def test_refresh_with_new_figures_shows_them_without_a_layout(
    make_console: Callable[..., HookConsoleApp], console_db: Path, layouts: list[str]
) -> None:
    now = [END - 600_000]
    app = make_console(clock=lambda: now[0])
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        before = str(screen.query_one("#tile-rate", KpiTile).query_one(".note", Static).render())
        layouts.clear()
        now[0] = END
        await _refresh(pilot, screen)
        assert layouts == []
        store = open_store(str(console_db))
        expected = read_stats(store, DeliveryFilter(since_ms=END - 86_400_000, until_ms=END))
        store.close()
        note = str(screen.query_one("#tile-rate", KpiTile).query_one(".note", Static).render())
        assert note == f"{expected.overall.attempts:,} in 24h" and note != before
        assert "updated 00:00:00 UTC" in str(screen.query_one("#status-line", Static).render())


def test_same_text_sees_a_change_of_style() -> None:
    assert same_text(Text("3", style="red"), Text("3", style="red"))
    assert not same_text(Text("3"), Text("3", style="red"))  # Rich's == would call these equal
    assert not same_text("3", Text("3"))
    assert same_text("3", "3") and not same_text(None, "")
