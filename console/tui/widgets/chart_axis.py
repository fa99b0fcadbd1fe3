"""A time axis under a sparkline: the window's start on the left, its middle, and its end on the right."""

from __future__ import annotations

from rich.table import Table
from textual.widgets import Static

from console.tui.text import clock, stamp


class ChartAxis(Static):
    DEFAULT_CSS = "ChartAxis { height: 1; color: $text-muted; }"

    _labels: tuple[str, str, str] | None = None

    def show(self, start_ms: int, end_ms: int) -> None:
        """Times as HH:MM (UTC); a window longer than a day shows dates (MM-DD HH:MM). Redrawn only when a
        label changed (one row high: no layout)."""

        def label(ms: int) -> str:
            return stamp(ms)[5:16] if end_ms - start_ms > 86_400_000 else clock(ms)[:5]

        labels = (label(start_ms), label((start_ms + end_ms) // 2), f"{label(end_ms)} UTC")
        if labels == self._labels:
            return
        self._labels = labels
        grid = Table.grid(expand=True)
        grid.add_column(justify="left", no_wrap=True)
        grid.add_column(justify="center", no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_row(*labels)
        self.update(grid, layout=False)
