"""The reason dialog (resolve, reopen): a prefilled reason is shown from its start and replaced by typing."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input

import console.tui
from console.tui.screens.reason import ReasonScreen

DEFAULT = "superseded: a newer event of the same reward (or user) was delivered"


class _Host(App[None]):
    CSS_PATH = Path(console.tui.__file__).parent / "console.tcss"  # the console's own layout of the dialog

    def on_mount(self) -> None:
        self.push_screen(ReasonScreen("Why won't these be sent?", DEFAULT))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_long_prefilled_reason_shows_its_start_and_typing_replaces_it(size: tuple[int, int]) -> None:
    app = _Host()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.pause(0.1)
        box = app.screen.query_one("#reason-input", Input)
        assert box.content_size.width < len(DEFAULT) + 1  # longer than the box at both sizes
        assert box.scroll_x == 0, "the reason's first letters are scrolled out of view"
        assert sorted(box.selection) == [0, len(DEFAULT)]
        await pilot.press("d", "u", "p")
        assert box.value == "dup"
