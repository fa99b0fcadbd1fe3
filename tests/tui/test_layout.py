"""Nothing is cut at 80, 100, 120 or 160 columns: every table fits its width (no column hidden off to the
right), every footer key is on screen, the filter dropdowns show their values on one line, and a KPI tile's note
that shows is whole (on one line)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.app import App
from textual.widgets import DataTable, Select, Static
from textual.widgets._footer import FooterKey

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ReplaySelection
from console.tui.app import HookConsoleApp
from console.tui.widgets.kpi import KpiTile
from tests.tui.conftest import settle

SIZES = [(80, 24), (100, 30), (120, 40), (160, 48)]


def _problems(app: App[None], where: str) -> list[str]:
    screen = app.screen
    found: list[str] = []
    for table in screen.query(DataTable):
        if not table.display or table.row_count == 0:
            continue
        room = table.scrollable_content_region.width
        if table.virtual_size.width > room:
            found.append(f"{where}: table #{table.id} is {table.virtual_size.width} wide in {room}")
    for key in screen.query(FooterKey):
        if key.region.right > screen.size.width or key.region.width == 0:
            found.append(f"{where}: footer key {key.key!r} is cut")
    for select in screen.query(Select):
        label = select.query_one("SelectCurrent #label")
        if label.size.height > 1:
            found.append(f"{where}: {select.id} wraps its value")
    for tile in screen.query(KpiTile):
        note = tile.query_one(".note", Static)
        if note.region.y < tile.content_region.bottom and note.size.height > 1:
            found.append(f"{where}: tile #{tile.id} wraps its note {str(note.render())!r}")
    return found


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_nothing_is_cut(make_console: Callable[..., HookConsoleApp], size: tuple[int, int]) -> None:
    app = make_console()
    # A planned job, so the jobs screen has a row (with a long selection text) to lay out.
    plan = app.ops.plan_replay(
        ReplaySelection(DeliveryFilter(state=DeliveryState.UNDELIVERED, search="evt_"))
    )
    app.ops.create_job(plan)
    problems: list[str] = []
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        problems += _problems(app, "dashboard")
        app.show_deliveries(state="failed")
        await settle(pilot)
        problems += _problems(app, "deliveries")
        await pilot.press("enter")
        await settle(pilot)
        problems += _problems(app, "event")
        await pilot.press("escape", "a", "r")
        await settle(pilot)
        problems += _problems(app, "replay")
        await pilot.press("escape", "j")
        await settle(pilot)
        assert app.screen.query_one("#jobs", DataTable).row_count == 1
        problems += _problems(app, "jobs")
    assert not problems, "\n".join(problems)
