"""A KPI tile: a label, a big figure and a note saying what it counts."""

from __future__ import annotations

from collections.abc import Sequence

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical

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

    def __init__(self, label: str, *, short: str = "", id: str) -> None:  # noqa: A002  (Textual names it id)
        super().__init__(id=id)
        self.label = label
        self.short = short or label  # shown when the label does not fit on one line (80 columns)
        self.notes: tuple[str, ...] = ("",)
        self._style = ""

    def compose(self) -> ComposeResult:
        yield Line(self.label, classes="label")  # one line: a wrapped label would push the note out
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
        self.query_one(".label", Line).show(self.label if len(self.label) <= width else self.short)
        fitting = [n for n in self.notes if len(n) <= width]
        self.query_one(".note", Line).show(fitting[0] if fitting else self.notes[-1])
