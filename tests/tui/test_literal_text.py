"""Stored strings are shown as literal text everywhere: ids that look like Rich markup (or actions, or links)
go into the filter dropdowns, tables and titles as they are, and control and bidi characters are escaped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.widgets import Select, Static
from textual.widgets._select import SelectOverlay

from console.domain.times import format_ms
from console.tui.app import HookConsoleApp
from console.tui.screens.deliveries import DeliveriesScreen
from console.tui.screens.event import EventScreen, pretty_payload
from console.tui.text import literal
from console.tui.widgets.endpoints_table import EndpointsTable
from tests.helpers import log_line, write_jsonl
from tests.tui.conftest import END, ingest_into, settle

# Ingest refuses control characters in ids and types, so these carry markup; the free-text fields carry the rest.
HOSTILE = ["ep_[bold red]x[/]", "ep_[/]", "ep_[link=http://evil]y[/link]", "[@click=app.quit]z"]
TYPES = ["[/]", "reward.[b]redeemed[/b]"]
SNEAKY = "user_\u202eevil\u009b31m\u0085[/]"


def test_literal_escapes_c0_c1_del_and_bidi_controls() -> None:
    shown = literal("a\u202eb\u009bc\u0085d\x7fe\x1bf\u2066g\u200bh[b]i[/]").plain
    assert shown == "a\\u202eb\\x9bc\\x85d\\x7fe\\x1bf\\u2066g\\u200bh[b]i[/]"
    assert literal("reward.redeemed é 🎁").plain == "reward.redeemed é 🎁"
    assert not {"\u202e", "\u0085"} & set(pretty_payload('{"a": "\u202e\u0085"}'.encode()))


def _hostile_store(tmp_path: Path) -> Path:
    db = tmp_path / "hostile.db"
    lines = [
        log_line(
            f"evt_{i}",
            endpoint,
            event_type=TYPES[i % len(TYPES)],
            status_code=None,
            error=SNEAKY,
            attempted_at=format_ms(END - 60_000 * (i + 1)),
            payload={"event_id": f"evt_{i}", "user_id": SNEAKY},
        )
        for i, endpoint in enumerate(HOSTILE)
    ]
    write_jsonl(tmp_path / "h.jsonl", lines)
    ingest_into(db, tmp_path / "h.jsonl")
    return db


async def test_filter_dropdowns_show_markup_like_ids_literally(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    app = make_console(db=_hostile_store(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EndpointsTable)
        assert {str(table.get_cell(e, "endpoint")) for e in HOSTILE} == {literal(e).plain for e in HOSTILE}
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DeliveriesScreen)
        for select_id, values in (("#f-endpoint", HOSTILE), ("#f-type", TYPES)):
            select = screen.query_one(select_id, Select)
            select.focus()
            await pilot.press("enter")  # open the dropdown: `ep_[/]` used to crash the console here
            await settle(pilot)
            overlay = select.query_one(SelectOverlay)
            assert select.expanded and overlay.option_count == len(values) + 1  # + the blank
            prompts = [overlay.get_option_at_index(i).prompt for i in range(1, overlay.option_count)]
            assert all(isinstance(p, Text) for p in prompts)
            assert sorted(p.plain for p in prompts) == sorted(literal(v).plain for v in values)  # type: ignore[union-attr]
            assert not any(p.spans or p.style for p in prompts)  # type: ignore[union-attr]  # no bold, no link
            await pilot.press("down", "enter")  # choose the first one: it filters, nothing is run
            await settle(pilot)
        assert app.is_running and isinstance(app.screen, DeliveriesScreen)
        (endpoint,), (kind,) = screen.filter.endpoint_ids, screen.filter.event_types
        assert endpoint in HOSTILE and kind in TYPES
        assert screen.total == int(TYPES[HOSTILE.index(endpoint) % len(TYPES)] == kind)
        line = str(screen.query_one("#selection-line", Static).render())
        assert "\u202e" not in line and "\u009b" not in line


async def test_event_title_and_fields_escape_bidi_and_c1(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    app = make_console(db=_hostile_store(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        failures = str(app.screen.query_one("#failures").render_line(1).text)
        assert "\\u202e" in failures and "\u202e" not in failures
        app.show_event("evt_2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EventScreen)
        for widget in ("#event-fields", "#payload"):
            static = screen.query_one(widget, Static)
            shown = "".join(static.render_line(y).text for y in range(static.size.height))
            assert "user_\\u202eevil\\x9b31m\\x85[/]" in shown, widget
            assert not {"\u202e", "\u009b", "\u0085"} & set(shown), widget
