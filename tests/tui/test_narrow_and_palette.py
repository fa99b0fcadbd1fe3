"""What the operator decides on stays on screen at 80x24 (the backlog's oldest age, p99, the explorer's time
column, the jobs' selection); the command palette lists the actions of the screen in front; an endpoint with a
backlog older than the dashboard's window still has a row; times older than today carry their date."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.command import CommandPalette
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.data_table import ColumnKey

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ReplaySelection
from console.tui.app import HookConsoleApp
from console.tui.screens.event import EventScreen
from console.tui.widgets.endpoints_table import EndpointsTable
from console.tui.widgets.kpi import KpiTile
from tests.tui.conftest import settle

SIZES = [(80, 24), (120, 40)]
IDS = [f"{w}x{h}" for w, h in SIZES]


def _note(app: HookConsoleApp, tile: str) -> str:
    return str(app.screen.query_one(f"#{tile}", KpiTile).query_one(".note", Static).render())


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_the_figures_and_columns_stay_at_80x24(
    make_console: Callable[..., HookConsoleApp], size: tuple[int, int]
) -> None:
    app = make_console()
    selection = ReplaySelection(DeliveryFilter(state=DeliveryState.UNDELIVERED, search="evt_"))
    app.ops.create_job(app.ops.plan_replay(selection))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert _note(app, "tile-backlog").startswith(("all time, oldest 19h 40m", "oldest 19h"))
        assert "p99 " in _note(app, "tile-latency")
        app.show_deliveries(state="failed")
        await settle(pilot)
        table = app.screen.query_one("#deliveries", DataTable)
        assert "first attempt" in [c.value for c in table.columns]
        first = str(table.get_row_at(0)[1])
        assert first[:2] == "10" and ":" in first  # MM-DD HH:MM at least
        assert table.virtual_size.width <= table.scrollable_content_region.width
        await pilot.press("j")
        await settle(pilot)
        jobs = app.screen.query_one("#jobs", DataTable)
        assert "selection" in [c.value for c in jobs.columns]
        shown = str(jobs.get_row_at(0)[list(jobs.columns).index(ColumnKey("selection"))])
        whole = app.ops.jobs()[0].selection
        assert len(shown) >= 16 and whole.startswith(shown.rstrip("…"))
        why = app.screen.query_one("#jobs-why", Static)
        said = "".join(why.render_line(y).text for y in range(why.size.height)).replace(" ", "")
        assert f"selection: {whole}".replace(" ", "") in said  # whole, wrapped
        assert jobs.virtual_size.width <= jobs.scrollable_content_region.width


async def test_an_endpoint_with_a_backlog_older_than_the_window_has_a_row(
    make_console: Callable[..., HookConsoleApp],
) -> None:
    app = make_console()
    endpoints, _ = app.ops.filter_choices()
    backlog = {e: n for e, n in app.ops.undelivered_by_endpoint(endpoints).items() if n}
    assert backlog
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("1")  # 5 minutes: the sample's traffic ends at the clock; its backlog is older
        await settle(pilot)
        table = app.screen.query_one(EndpointsTable)
        rows = {str(k.value) for k in table.rows}
        assert set(backlog) <= rows
        table.move_cursor(row=table.get_row_index(next(iter(backlog))))
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.query_one("#deliveries", DataTable).row_count > 0


async def test_recent_failures_from_an_earlier_day_carry_their_date(
    make_console: Callable[..., HookConsoleApp],
) -> None:
    app = make_console()  # the clock is 2026-11-01T00:00Z: every failure of the sample is from the day before
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        failures = app.screen.query_one("#failures", DataTable)
        assert failures.row_count
        assert str(failures.get_row_at(0)[0]).startswith("10-31 ")


async def test_the_palette_lists_the_screens_actions_and_one_theme_command(
    make_console: Callable[..., HookConsoleApp],
) -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Pause", "Sort"} <= set(titles)
        assert sum("theme" in t.lower() or "light/dark" in t.lower() for t in titles) == 1
        event_id = app.ops.deliveries(DeliveryFilter(state=DeliveryState.FAILED), None, 1)[0].event_id
        app.show_event(event_id)
        await settle(pilot)
        assert isinstance(app.screen, EventScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Verify", "curl", "Save", "Replay"} <= set(titles)
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"verify")
        await settle(pilot)
        options = app.screen.query_one(OptionList)
        found = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any("Verify" in f for f in found), found
