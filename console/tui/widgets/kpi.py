"""A KPI tile: a label, a big figure and a note saying what it counts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class KpiTile(Vertical):
    DEFAULT_CSS = """
    KpiTile { border: round $panel-lighten-2; height: 5; min-width: 12; padding: 0 1; }
    KpiTile .label { color: $text-muted; }
    KpiTile .value { text-style: bold; }
    KpiTile .note { color: $text-muted; }
    """

    def __init__(self, label: str, *, id: str) -> None:  # noqa: A002  (Textual names it id)
        super().__init__(id=id)
        self.label = label

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="label", markup=False)
        yield Static("-", classes="value", markup=False)
        yield Static("", classes="note", markup=False)

    def show(self, value: str, note: str = "", style: str = "") -> None:
        value_widget = self.query_one(".value", Static)
        value_widget.update(value)
        value_widget.styles.color = style or None
        self.query_one(".note", Static).update(note)
