"""A KPI tile: a label, a big figure and a note saying what it counts."""

from __future__ import annotations

from collections.abc import Sequence

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from console.tui.widgets.line import Line


class KpiTile(Vertical):
    """A fixed-size box; the figure and the note are one line each, so a refresh redraws the lines that changed
    and never lays the screen out again."""

    DEFAULT_CSS = """
    KpiTile { border: round $panel-lighten-2; height: 5; min-width: 12; padding: 0 0 0 1; }
    KpiTile .label { color: $text-muted; }
    KpiTile .value { text-style: bold; }
    KpiTile .note { color: $text-muted; }
    """

    def __init__(self, label: str, *, id: str) -> None:  # noqa: A002  (Textual names it id)
        super().__init__(id=id)
        self.label = label
        self.notes: tuple[str, ...] = ("",)
        self._style = ""

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="label", markup=False)  # may wrap below 110 columns: height auto
        yield Line("-", classes="value")
        yield Line("", classes="note")

    def show(self, value: str, note: str | Sequence[str] = "", style: str = "") -> None:
        """`note` may be alternatives, longest first: the tile shows the first that fits its width (the note
        has one line; a wrapped one would lose its end, a unit or a figure)."""
        value_line = self.query_one(".value", Line)
        value_line.show(value)
        if style != self._style:
            self._style = style
            value_line.styles.color = style or None
        self.notes = (note,) if isinstance(note, str) else tuple(note)
        self._show_note()

    def on_resize(self, event: events.Resize) -> None:
        self._show_note()

    def _show_note(self) -> None:
        width = self.content_size.width
        fitting = [n for n in self.notes if len(n) <= width]
        self.query_one(".note", Line).show(fitting[0] if fitting else self.notes[-1])
