"""A KPI tile's note has one line: given alternatives, the tile shows the longest that fits its width, and picks
again when it is resized (a wrapped note would lose its end: a unit, or a whole figure)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from console.tui.widgets.kpi import KpiTile

LONG, SHORT = "p95 475 ms p99 1.18 s", "p95 475 ms"


class _OneTile(App[None]):
    CSS = "KpiTile { width: 24; }"  # a border and a left padding: 21 columns for the note

    def compose(self) -> ComposeResult:
        yield KpiTile("latency p50", id="tile")


def _note(app: App[None]) -> Static:
    return app.query_one(KpiTile).query_one(".note", Static)


async def test_the_longest_note_that_fits_is_shown_and_chosen_again_on_resize() -> None:
    app = _OneTile()
    async with app.run_test(size=(60, 10)) as pilot:
        tile = app.query_one(KpiTile)
        tile.show("82 ms", (LONG, SHORT))
        await pilot.pause()
        assert str(_note(app).render()) == LONG and _note(app).size.height == 1

        tile.styles.width = 18
        await pilot.pause()
        await pilot.pause()
        assert str(_note(app).render()) == SHORT and _note(app).size.height == 1

        tile.styles.width = 30
        await pilot.pause()
        await pilot.pause()
        assert str(_note(app).render()) == LONG


async def test_a_single_note_is_shown_as_given() -> None:
    app = _OneTile()
    async with app.run_test(size=(60, 10)) as pilot:
        app.query_one(KpiTile).show("25", "all time, oldest 19h 40m and more")
        await pilot.pause()
        assert str(_note(app).render()) == "all time, oldest 19h 40m and more"  # nothing shorter to show
