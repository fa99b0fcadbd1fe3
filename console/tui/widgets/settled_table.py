"""A DataTable whose header and rows are drawn again once its columns have grown to fit new rows.

Textual measures new rows when the table is idle; a frame painted before that (a sort, a cursor move, a busy
machine) is cached under the same key and stays on screen with the old, narrower columns: headers no longer
line up and cells are cut ("11:2" for "11:26:04"). Dropping the render caches when widths change fixes it."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import DataTable


class SettledTable(DataTable[Any]):
    async def _on_idle(self, event: events.Idle) -> None:
        before = [column.get_render_width(self) for column in self.columns.values()]
        await super()._on_idle(event)
        if [column.get_render_width(self) for column in self.columns.values()] != before:
            self._clear_caches()  # pinned Textual (8.2): the caches are keyed by _update_count, not by widths
            self.refresh()
