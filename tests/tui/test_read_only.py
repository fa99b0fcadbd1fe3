"""The console in read-only mode (Pilot): a badge on every screen; replay, resume and cancel hidden and off.
And the job view shows who replayed and why."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey

from console.domain.replay import JobOrigin
from console.operations import Operations
from console.store import open_store
from console.store import replay_jobs as journal
from console.tui.app import HookConsoleApp, make_app
from console.tui.screens.base import READ_ONLY_BADGE
from console.tui.screens.deliveries import DeliveriesScreen
from console.tui.screens.jobs import JobsScreen
from tests.tui.conftest import END, settle


def _footer_keys(app: HookConsoleApp) -> set[str]:
    return {key.description for key in app.screen.query(FooterKey)}


def _add_job(db: Path) -> None:
    store = open_store(str(db))
    try:
        journal.create_job(store, "rj_old", "all", True, 10, [], END, JobOrigin("alice@ops", "INC-7 re-send"))
    finally:
        store.close()


def _app(db: Path, sample_folder: Path, read_only: bool) -> HookConsoleApp:
    ops = Operations(str(db), sample_folder / "endpoints.toml", clock=lambda: END)
    return make_app(None, "", 3600.0, ops=ops, read_only=read_only)


async def test_read_only_console_hides_replay_and_shows_the_badge(
    console_db: Path, sample_folder: Path
) -> None:
    _add_job(console_db)
    app = _app(console_db, sample_folder, read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert (
            str(app.screen.query_one("#read-only-badge", Static).render()).strip() == READ_ONLY_BADGE.strip()
        )
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, DeliveriesScreen)
        assert app.screen.query_one("#read-only-badge", Static).display
        keys = _footer_keys(app)
        assert "Select" in keys and "Replay" not in keys
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, DeliveriesScreen)  # no replay window opened
        app.open_replay(app.screen.filter, pairs=None)  # nor from anywhere else (the palette, an event)
        await settle(pilot)
        assert isinstance(app.screen, DeliveriesScreen)
        assert any("read-only mode: replay is refused" in n.message for n in app._notifications)
        await pilot.press("j")
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen)
        keys = _footer_keys(app)
        assert "Refresh" in keys and "Resume" not in keys and "Cancel" not in keys
        table = app.screen.query_one("#jobs", DataTable)
        assert str(table.get_cell("rj_old", "operator")) == "alice@ops"
        assert str(table.get_cell("rj_old", "reason")) == "INC-7 re-send"
        await pilot.press("x")
        await settle(pilot)
    store = open_store(str(console_db))
    try:
        view = journal.job_view(store, "rj_old")
        assert view is not None and view.state.value == "planned"  # x did not cancel it
    finally:
        store.close()


async def test_console_shows_replay_when_not_read_only(console_db: Path, sample_folder: Path) -> None:
    app = _app(console_db, sample_folder, read_only=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert not app.screen.query("#read-only-badge")
        await pilot.press("e")
        await settle(pilot)
        assert "Replay" in _footer_keys(app)
        await pilot.press("j")
        await settle(pilot)
        assert {"Resume", "Cancel"} <= _footer_keys(app)


async def test_a_read_only_console_writes_nothing_to_the_store(console_db: Path, sample_folder: Path) -> None:
    """`--read-only` opens the store read-only: not a byte of it changes, even on a store that predates the
    alert tables (which a writing console adds)."""
    store = open_store(str(console_db))
    with store.write() as conn:
        conn.exec_driver_sql("DROP TABLE alert_outbox")
    store.close()
    before = console_db.read_bytes()
    ops = Operations(str(console_db), sample_folder / "endpoints.toml", clock=lambda: END, read_only=True)
    app = make_app(None, "", 3600.0, ops=ops, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#endpoints", DataTable).row_count > 0
        await pilot.press("e")
        await settle(pilot)
    ops.reset()
    assert console_db.read_bytes() == before
