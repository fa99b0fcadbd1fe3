"""The deliveries', jobs' and event's tables show the column set that fits the terminal, again after each
resize (console/tui/screens/columns.py), and say whether the widest set is shown."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import DataTable

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ReplaySelection
from console.tui.app import HookConsoleApp
from console.tui.screens.columns import columns_for
from console.tui.screens.deliveries import COLUMN_SETS as DELIVERY_SETS
from console.tui.screens.event import ATTEMPT_COLUMN_SETS, EventScreen
from console.tui.screens.jobs import COLUMN_SETS as JOB_SETS
from tests.tui.conftest import settle


def _keys(app: HookConsoleApp, table_id: str) -> tuple[str, ...]:
    table = app.screen.query_one(table_id, DataTable)
    return tuple(str(key.value) for key in table.columns)


def test_the_widest_set_that_fits_is_chosen() -> None:
    sets = [(100, ("a", "b", "c")), (50, ("a", "b")), (0, ("a",))]
    assert columns_for(sets, 100) == (("a", "b", "c"), True)
    assert columns_for(sets, 99) == (("a", "b"), False)
    assert columns_for(sets, 50) == (("a", "b"), False)
    assert columns_for(sets, 10) == (("a",), False)


async def test_each_table_fits_its_columns_again_when_the_terminal_is_resized(
    make_console: Callable[..., HookConsoleApp],
) -> None:
    app = make_console()
    selection = ReplaySelection(DeliveryFilter(state=DeliveryState.UNDELIVERED, search="evt_"))
    app.ops.create_job(app.ops.plan_replay(selection))
    widest, narrowest = DELIVERY_SETS[0], DELIVERY_SETS[-1]
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        app.show_deliveries(state="failed")
        await settle(pilot)
        assert _keys(app, "#deliveries") == widest[1]
        assert app.screen.wide  # type: ignore[attr-defined]
        rows = app.screen.query_one("#deliveries", DataTable).row_count
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert _keys(app, "#deliveries") == narrowest[1]
        assert not app.screen.wide  # type: ignore[attr-defined]
        assert app.screen.query_one("#deliveries", DataTable).row_count == rows  # drawn again, not lost
        event_id = str(app.screen.query_one("#deliveries", DataTable).get_row_at(0)[2])
        await pilot.resize_terminal(160, 40)
        await settle(pilot)
        assert _keys(app, "#deliveries") == widest[1]

        await pilot.press("j")
        await settle(pilot)
        assert _keys(app, "#jobs") == JOB_SETS[0][1]
        await pilot.resize_terminal(100, 30)
        await settle(pilot)
        assert _keys(app, "#jobs") == JOB_SETS[-1][1]
        assert not app.screen.wide  # type: ignore[attr-defined]

        app.push_screen(EventScreen(event_id.strip()))
        await settle(pilot)
        assert _keys(app, "#attempts") == ATTEMPT_COLUMN_SETS[1][1]  # 100 columns: the middle set
        await pilot.resize_terminal(120, 30)
        await settle(pilot)
        assert _keys(app, "#attempts") == ATTEMPT_COLUMN_SETS[0][1]
        assert app.screen.wide  # type: ignore[attr-defined]
