"""The dashboard marks firing alerts and recovered endpoints: a real store, alert state written by the store's
own functions, an endpoint whose attempts failed and then succeeded again."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.coordinate import Coordinate
from textual.widgets import Static

from console.domain.alerts import AlertState, AlertStateRow
from console.domain.times import MS_PER_MINUTE
from console.ingest.service import ingest_sources
from console.store import open_store
from console.store.alerts import save_transitions
from console.tui.app import HookConsoleApp
from console.tui.screens.dashboard import DashboardScreen
from console.tui.widgets.endpoints_table import EndpointsTable
from tests.helpers import write_jsonl
from tests.test_watch_marks import failed_then_back
from tests.tui.conftest import END, ingest_into, settle
from tests.tui.test_layout import _problems


def firing(rule: str, endpoint_id: str, minutes_ago: int) -> AlertStateRow:
    since = END - minutes_ago * MS_PER_MINUTE
    return AlertStateRow(rule, endpoint_id, AlertState.FIRING, since_ms=since, changed_ms=since)


def marks(table: EndpointsTable) -> dict[str, str]:
    return {str(k.value): str(table.get_cell(k, "●")) for k in table.rows}


async def test_firing_alerts_are_marked_counted_and_sorted_first(
    make_console: Callable[..., HookConsoleApp], console_db: Path
) -> None:
    app = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        table = screen.query_one(EndpointsTable)
        status = screen.query_one("#status-line", Static)
        healthiest = table.coordinate_to_cell_key(Coordinate(table.row_count - 1, 0)).row_key.value
        assert healthiest is not None and "▲" not in marks(table).values()
        assert "firing" not in str(status.render()) and not screen.query_one("#alerts-line").display

        store = open_store(str(console_db))  # what `hookconsole watch` does when its rules fire
        try:
            save_transitions(
                store,
                [
                    firing("endpoint-down", healthiest, 5),
                    firing("backlog", healthiest, 3),
                    firing("endpoint-down", "ep_crm", 2),
                ],
                [],
                END,
            )
        finally:
            store.close()
        screen.load()  # the next tick: no new traffic, yet the alerts show
        await settle(pilot)

        shown = marks(table)
        assert {e for e, mark in shown.items() if mark == "▲"} == {healthiest, "ep_crm"}
        assert str(status.render()).startswith(" ▲ 3 alerts firing · window 1h")
        top_two = {table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value for row in (0, 1)}
        assert top_two == {healthiest, "ep_crm"}  # firing endpoints sort first, even the healthiest
        line = str(screen.query_one("#alerts-line", Static).render())
        assert f"▲ {healthiest} firing 5m: backlog, endpoint-down" in line
        assert "▲ ep_crm firing 2m: endpoint-down" in line
        assert not _problems(app, "dashboard")


async def test_an_endpoint_that_recovered_says_so(
    make_console: Callable[..., HookConsoleApp], console_db: Path, tmp_path: Path
) -> None:
    traffic = failed_then_back("ep_flaky", END - 8 * MS_PER_MINUTE, END - 2 * MS_PER_MINUTE)
    ingest_into(console_db, write_jsonl(tmp_path / "flaky.jsonl", traffic))
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        table = screen.query_one(EndpointsTable)
        assert marks(table)["ep_flaky"] == "✓"
        assert list(marks(table).values()).count("✓") == 1
        line = str(screen.query_one("#alerts-line", Static).render())
        assert line == "✓ ep_flaky recovered 2m ago"
        assert not _problems(app, "dashboard")
        assert "firing" not in str(screen.query_one("#status-line", Static).render())


def marked_store(console_db: Path, tmp_path: Path) -> None:
    """One endpoint firing, one recovered: what the demo shows a few minutes apart."""
    traffic = failed_then_back("ep_flaky", END - 8 * MS_PER_MINUTE, END - 2 * MS_PER_MINUTE)
    store = open_store(str(console_db))
    try:
        ingest_sources(store, [str(write_jsonl(tmp_path / "flaky.jsonl", traffic))])
        save_transitions(store, [firing("endpoint-down", "ep_giftcards", 4)], [], END)
    finally:
        store.close()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_dashboard_with_marks_snapshot(
    snap_compare,
    make_console: Callable[..., HookConsoleApp],
    console_db: Path,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    marked_store(console_db, tmp_path)
    assert snap_compare(make_console(), terminal_size=size, run_before=settle)


async def test_a_firing_endpoint_that_succeeds_again_says_so(
    make_console: Callable[..., HookConsoleApp], console_db: Path, tmp_path: Path
) -> None:
    """The rule lags behind the traffic: until it resolves, the operator still learns the endpoint is back."""
    marked_store(console_db, tmp_path)
    store = open_store(str(console_db))
    try:
        save_transitions(store, [firing("endpoint-down", "ep_flaky", 7)], [], END)
    finally:
        store.close()
    app = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert marks(screen.query_one(EndpointsTable))["ep_flaky"] == "▲"
        line = str(screen.query_one("#alerts-line", Static).render())
        assert "▲ ep_flaky firing 7m: endpoint-down, succeeding again for 2m" in line
        assert str(screen.query_one("#status-line", Static).render()).startswith(" ▲ 2 alerts firing ·")


async def test_a_store_made_before_alerts_existed_shows_no_error(
    make_console: Callable[..., HookConsoleApp], console_db: Path
) -> None:
    with sqlite3.connect(console_db) as conn:  # as a store made at schema version 2 before the alert tables
        conn.execute("DROP TABLE alert_state")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")  # version 5 adds them
    app = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.store_problem is None
        table = app.screen.query_one(EndpointsTable)
        assert table.row_count > 0 and "▲" not in marks(table).values()
