"""The event screen opened from a delivery: the attempts' table has the focus, grouped by endpoint with the
delivery's endpoint first, the cursor on its newest attempt; `v` and `c` act on the attempt the arrows chose;
help says so."""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby

import pytest
from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey

from console.domain.filters import DeliveryFilter, DeliveryState
from console.tui.app import HookConsoleApp
from console.tui.screens.deliveries import DeliveriesScreen
from console.tui.screens.event import EventScreen
from tests.tui.conftest import settle


def _result(app: HookConsoleApp) -> str:
    return str(app.screen.query_one("#check-result", Static).render())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_v_and_c_act_on_the_chosen_attempt_grouped_by_endpoint(
    make_console: Callable[..., HookConsoleApp], size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMUX", raising=False)  # the snippet goes to the clipboard, not to a file
    monkeypatch.delenv("HOOKCONSOLE_NO_CLIPBOARD", raising=False)
    app = make_console()
    # An undelivered delivery whose event also went to other endpoints, tried there first.
    rows = app.ops.deliveries(DeliveryFilter(state=DeliveryState.UNDELIVERED), None, 500)
    chosen = None
    for row in rows:
        detail = app.ops.event(row.event_id)
        if len(detail.endpoints) > 1 and detail.attempts[0].endpoint_id != row.endpoint_id:
            chosen = row, detail
            break
    assert chosen is not None
    row, detail = chosen
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.show_deliveries(state="undelivered")
        await settle(pilot)
        explorer = app.screen
        assert isinstance(explorer, DeliveriesScreen)
        explorer.set_filter(DeliveryFilter(state=DeliveryState.UNDELIVERED, search=row.event_id))
        await settle(pilot)
        table = app.screen.query_one("#deliveries", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index(f"{row.event_id}|{row.endpoint_id}"))
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EventScreen)
        attempts = screen.query_one("#attempts", DataTable)
        assert app.focused is attempts
        shown = [screen._grouped()[i] for i in range(attempts.row_count)]
        endpoints = [endpoint for endpoint, _ in groupby(a.endpoint_id for a in shown)]
        assert endpoints[0] == row.endpoint_id and len(endpoints) == len(set(endpoints)) == len(
            detail.endpoints
        )
        mine = [a for a in detail.attempts if a.endpoint_id == row.endpoint_id]
        at = shown[attempts.cursor_row]
        assert (at.endpoint_id, at.attempt) == (row.endpoint_id, max(a.attempt for a in mine))
        await pilot.press("v")
        await settle(pilot)
        assert _result(app).startswith(f"attempt {at.attempt} at {row.endpoint_id}:")
        other = next(i for i, a in enumerate(shown) if a.endpoint_id != row.endpoint_id)
        for _ in range(other - attempts.cursor_row):
            await pilot.press("down")
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        assert _result(app).startswith(f"attempt {shown[other].attempt} at {shown[other].endpoint_id}:")
        await pilot.press("c")
        await settle(pilot)
        assert _result(app).startswith(f"curl for {shown[other].endpoint_id},")
        footer = "".join(k.description for k in screen.query(FooterKey))
        assert "Payload" in footer
        await pilot.press("tab")
        await settle(pilot)
        assert app.focused is not attempts
        assert "Attempts" in "".join(k.description for k in screen.query(FooterKey))
        await pilot.press("tab")
        await settle(pilot)
        assert app.focused is attempts
        await pilot.press("question_mark")
        await settle(pilot)
        help_text = "".join(
            s.render_line(y).text for s in app.screen.query(Static) for y in range(s.size.height)
        )
        assert "tab" in help_text and "choose an attempt" in help_text
