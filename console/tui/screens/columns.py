"""Tables whose columns follow the terminal's width: a screen lists its column sets, widest first, and fits
its table to the width when it is mounted and at every resize."""

from __future__ import annotations

from collections.abc import Sequence

from textual import events

# (least width, the columns shown from that width on), widest first; the last set's least width is 0
ColumnSets = Sequence[tuple[int, tuple[str, ...]]]


def columns_for(sets: ColumnSets, width: int) -> tuple[tuple[str, ...], bool]:
    """The columns of the widest set that fits `width`, and whether that is the widest set of all."""
    (widest, _), *_ = sets
    return next(columns for least, columns in sets if width >= least), width >= widest


class FitsColumns:
    """Mixed into a screen whose table shows the columns that fit: `_fit_columns` (the screen's) runs at every
    resize with the new width."""

    def on_resize(self, event: events.Resize) -> None:  # Textual calls this beside the screen's own handlers
        self._fit_columns(event.size.width)

    def _fit_columns(self, width: int) -> None:
        raise NotImplementedError
