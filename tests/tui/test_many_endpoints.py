"""A store with thousands of endpoints: the dashboard draws the worst MAX_ROWS and says how many more (a table
of 100,000 rows once drew nothing in 6 minutes and ignored `q`); the explorer finds any endpoint by its id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.coordinate import Coordinate

from console.domain.times import format_ms
from console.tui.app import HookConsoleApp
from console.tui.screens.deliveries import MAX_CHOICES, DeliveriesScreen
from console.tui.widgets.endpoints_table import MAX_ROWS, EndpointsTable
from tests.helpers import log_line, write_jsonl
from tests.tui.conftest import END, ingest_into, settle

ENDPOINTS = 2_000
FAILING = 7  # every 7th endpoint's one delivery failed


def _store(tmp_path: Path) -> Path:
    lines = [
        log_line(
            f"evt_{i}",
            f"ep_{i:05d}",
            attempted_at=format_ms(END - 60_000 - i * 10),
            status_code=503 if i % FAILING == 0 else 200,
        )
        for i in range(ENDPOINTS)
    ]
    db = tmp_path / "many.db"
    ingest_into(db, write_jsonl(tmp_path / "many.jsonl", lines))
    return db


async def test_the_dashboard_draws_the_worst_endpoints_and_says_how_many_more(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    assert ENDPOINTS > MAX_ROWS and ENDPOINTS > MAX_CHOICES
    app = make_console(db=_store(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EndpointsTable)
        assert table.row_count == MAX_ROWS and table.hidden == ENDPOINTS - MAX_ROWS
        failing = {f"ep_{i:05d}" for i in range(0, ENDPOINTS, FAILING)}
        shown = [str(table.coordinate_to_cell_key(Coordinate(i, 0))[0].value) for i in range(table.row_count)]
        assert (
            set(shown[: len(failing)]) == failing
        )  # worst first: every failing endpoint is among those shown
        more = app.screen.query_one("#endpoints-more")
        assert more.display and "first 500 of 2,000 endpoints by health" in str(more.render())
        await pilot.press("s")  # by name: the first 500 names
        await settle(pilot)
        shown = [str(table.coordinate_to_cell_key(Coordinate(i, 0))[0].value) for i in range(table.row_count)]
        assert shown == [f"ep_{i:05d}" for i in range(MAX_ROWS)]
        await pilot.press("e")
        await settle(pilot)
        explorer = app.screen
        assert isinstance(explorer, DeliveriesScreen)
        await pilot.press("slash", *"ep_01999", "enter")
        await settle(pilot)
        assert [r.endpoint_id for r in explorer.rows.values()] == ["ep_01999"]
        app.set_focus(None)  # out of the search box, where q is a letter
        await pilot.press("q")
        await settle(pilot)
        assert not app.is_running
