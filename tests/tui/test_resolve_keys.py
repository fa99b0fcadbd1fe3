"""Resolving from the console (Pilot, the sample store): `w` on the explorer resolves the selection with a reason
(`W` reopens); the event screen lists who resolved it, when and why; `w` in the replay window resolves the
superseded ones; read-only mode has the keys off (footer and palette)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey

from console.domain import formatting as fmt
from console.domain.filters import DeliveryFilter, DeliveryState
from console.operations import Operations
from console.store import open_store
from console.store.live import undelivered_backlog
from console.store.resolutions import history
from console.tui.app import HookConsoleApp, make_app, screen_commands
from console.tui.screens.deliveries import DeliveriesScreen
from console.tui.screens.event import EventScreen
from console.tui.screens.reason import ReasonScreen
from console.tui.screens.replay import ReplayScreen
from tests.tui.conftest import END, settle


def _app(db: Path, sample_folder: Path, read_only: bool = False) -> HookConsoleApp:
    ops = Operations(str(db), sample_folder / "endpoints.toml", clock=lambda: END)
    return make_app(None, "", 3600.0, ops=ops, read_only=read_only)


def _front(app: HookConsoleApp) -> object:
    """The screen in front, unnarrowed (a key may have changed it since the last check)."""
    return app.screen


def _backlog(db: Path) -> int:
    store = open_store(str(db))
    try:
        return undelivered_backlog(store)[0]
    finally:
        store.close()


def _history(db: Path, event_id: str) -> list[tuple[str, str, str]]:
    store = open_store(str(db))
    try:
        return [(h.endpoint_id, h.action.value, h.reason) for h in history(store, event_id)]
    finally:
        store.close()


async def _answer(pilot: Pilot[Any], reason: str | None) -> None:
    assert isinstance(pilot.app.screen, ReasonScreen)
    box = pilot.app.screen.query_one("#reason-input", Input)
    box.value = ""
    if reason is not None:
        await pilot.press(*reason)
    await pilot.press("enter")
    await settle(pilot)


async def test_w_resolves_the_selection_and_shift_w_reopens_it(console_db: Path, sample_folder: Path) -> None:
    before = _backlog(console_db)
    assert before > 2
    app = _app(console_db, sample_folder)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.show_deliveries(state="undelivered")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DeliveriesScreen)
        await pilot.press("space", "down", "space")
        marked = sorted(screen.selected)
        assert len(marked) == 2
        await pilot.press("w")
        await settle(pilot)
        await _answer(pilot, "")  # no reason: the dialog stays and says so
        assert isinstance(app.screen, ReasonScreen)
        assert "required" in str(app.screen.query_one("#reason-hint", Static).render())
        await _answer(pilot, "noise")
        assert _front(app) is screen
        assert _backlog(console_db) == before - 2
        assert all(key not in screen.rows for key in (f"{e}|{ep}" for e, ep in marked))  # undelivered: gone
        event_id, endpoint_id = marked[0]
        assert (endpoint_id, "resolve", "noise") in _history(console_db, event_id)
        # the event screen says who resolved it, when and why
        app.show_event(event_id, endpoint_id)
        await settle(pilot)
        assert isinstance(app.screen, EventScreen)
        fields = str(app.screen.query_one("#event-fields", Static).render())
        assert (
            "resolved" in fields and f"{endpoint_id} " in fields and ": noise" in fields and " by " in fields
        )
        await pilot.press("escape")
        await settle(pilot)
        # reopen from the explorer's resolved state
        screen.set_filter(DeliveryFilter(state=DeliveryState.RESOLVED))
        await settle(pilot)
        assert sorted(row.key for row in screen.rows.values()) == marked
        await pilot.press("a", "W")
        await settle(pilot)
        await _answer(pilot, "wrong ones")
        assert _backlog(console_db) == before
        assert _history(console_db, event_id)[-1] == (endpoint_id, "reopen", "wrong ones")


async def test_escape_in_the_reason_dialog_changes_nothing(console_db: Path, sample_folder: Path) -> None:
    before = _backlog(console_db)
    app = _app(console_db, sample_folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.show_deliveries(state="undelivered")
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DeliveriesScreen)
    assert _backlog(console_db) == before


async def test_w_in_the_replay_window_resolves_the_superseded_ones(
    console_db: Path, sample_folder: Path
) -> None:
    before = _backlog(console_db)
    app = _app(console_db, sample_folder)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.show_deliveries(state="undelivered")
        await settle(pilot)
        await pilot.press("a", "r")
        await settle(pilot)
        window = app.screen
        assert isinstance(window, ReplayScreen) and window.plan is not None and window.plan.impact is not None
        superseded = window.plan.impact.superseded
        assert superseded > 0, "the sample has superseded deliveries"
        await pilot.press("s")  # leave them out first, as an operator would
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, ReasonScreen)
        assert app.screen.query_one("#reason-input", Input).value.startswith("superseded")
        await pilot.press("enter")  # the default reason
        await settle(pilot)
        assert _front(app) is window
        outcome = str(window.query_one("#replay-outcome", Static).render())
        assert outcome.strip() == f"Resolved {fmt.counted(superseded, 'delivery')} (won't send)."
        assert window.plan is not None and window.plan.impact is not None
        assert window.plan.impact.superseded == 0  # planned again without them
        assert not window.check_action("resolve_superseded", ())
    assert _backlog(console_db) == before - superseded


async def test_read_only_console_has_the_resolve_keys_off(console_db: Path, sample_folder: Path) -> None:
    before = _backlog(console_db)
    app = _app(console_db, sample_folder, read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.show_deliveries(state="undelivered")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DeliveriesScreen)
        footer = {key.description for key in screen.query(FooterKey)}
        assert "Select" in footer and "Resolve" not in footer
        commands = {c.title for c in screen_commands(screen)}
        assert "Resolve" not in commands and "Reopen" not in commands
        await pilot.press("space", "w")
        await settle(pilot)
        assert _front(app) is screen  # no dialog
    assert _backlog(console_db) == before


async def test_the_palette_lists_resolve_and_reopen(console_db: Path, sample_folder: Path) -> None:
    app = _app(console_db, sample_folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.show_deliveries()
        await settle(pilot)
        commands = {c.title for c in screen_commands(app.screen)}
        assert {"Resolve", "Reopen"} <= commands
