"""Replay scope from the event screen (Pilot): `r` plans the event for the endpoint of the chosen attempt only,
`R` for every endpoint it went to; the footer shows `r`, the arrows and tab; help and the palette list `R`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey

from console.domain.filters import DeliveryFilter, DeliveryState
from console.tui.app import HookConsoleApp, screen_commands
from console.tui.screens.event import EventScreen
from console.tui.screens.replay import ReplayScreen
from tests.tui.conftest import settle


async def _planned(pilot: Pilot[Any], app: HookConsoleApp, key: str) -> tuple[tuple[str, str], ...]:
    await pilot.press(key)
    await settle(pilot)
    replay = app.screen
    assert isinstance(replay, ReplayScreen) and replay.plan is not None
    pairs = replay.plan.selection.pairs
    assert pairs is not None
    assert {e.endpoint_id for e in replay.plan.endpoints} == {ep for _, ep in pairs}
    await pilot.press("escape")
    await settle(pilot)
    assert isinstance(app.screen, EventScreen)
    return pairs


async def test_r_replays_to_the_chosen_attempts_endpoint_and_R_to_all(
    make_console: Callable[..., HookConsoleApp],
) -> None:
    app = make_console()
    rows = app.ops.deliveries(DeliveryFilter(state=DeliveryState.UNDELIVERED), None, 500)
    chosen = next(
        (r, d) for r in rows if len((d := app.ops.event(r.event_id)).endpoints) > 2
    )  # an undelivered delivery whose event went to three endpoints or more
    row, detail = chosen
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.push_screen(EventScreen(row.event_id, row.endpoint_id))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EventScreen)
        footer = {(k.key_display, k.description) for k in screen.query(FooterKey)}
        assert {("r", "Replay"), ("↑↓", "Pick"), ("tab", "Payload")} <= footer  # R: in help and ctrl+p
        titles = {c.title for c in screen_commands(screen)}
        assert {"Replay", "Replay to every endpoint", "Save"} <= titles
        assert await _planned(pilot, app, "r") == ((row.event_id, row.endpoint_id),)
        attempts = screen.query_one("#attempts", DataTable)
        shown = screen._grouped()
        other = next(i for i, a in enumerate(shown) if a.endpoint_id != row.endpoint_id)
        for _ in range(other - attempts.cursor_row):
            await pilot.press("down")
        await settle(pilot)
        assert await _planned(pilot, app, "r") == ((row.event_id, shown[other].endpoint_id),)
        everywhere = await _planned(pilot, app, "R")
        assert sorted(everywhere) == sorted((row.event_id, e) for e in detail.endpoints)
        await pilot.press("question_mark")
        await settle(pilot)
        help_text = "".join(
            s.render_line(y).text for s in app.screen.query(Static) for y in range(s.size.height)
        )
        assert "replay this event to the chosen attempt's endpoint" in help_text
        assert "replay this event to every endpoint it went to" in help_text
