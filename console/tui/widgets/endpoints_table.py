"""The dashboard's endpoint table: rows keyed by endpoint id, only changed cells updated on a refresh.

At most MAX_ROWS endpoints are drawn, the first in the chosen order (worst first by default): a table of a
hundred thousand rows takes Textual minutes to build, during which the console cannot even be quit. The
dashboard says how many are left out; the explorer finds any endpoint by its id."""

from __future__ import annotations

import heapq
from collections.abc import Callable

from rich.text import Text

from console.domain import formatting as fmt
from console.domain.alert_marks import EndpointMark
from console.domain.kpis import EndpointKpis, Kpis
from console.tui.text import health, literal, plain
from console.tui.widgets.alert_marks import row_mark
from console.tui.widgets.line import same_text
from console.tui.widgets.settled_table import SettledTable

COLUMNS = ("●", "endpoint", "attempts", "1st-try", "final", "p95", "failed", "undeliv", "last fail")
# `undeliv` counts what is undelivered now, whenever first tried (as the "undelivered now" tile and what enter
# opens); the other figures follow the window. An endpoint with a backlog has a row whatever the window.
SORTS = ("health", "name", "attempts")  # the dashboard's `s` key goes round these
MAX_ROWS = 500


def health_rank(
    e: EndpointKpis, undelivered_now: int, firing: bool = False
) -> tuple[int, int, int, float, str]:
    """Worst first: an alert firing, then most undelivered now, then most failed attempts in the window, then
    lowest final success."""
    k = e.kpis
    final = k.final_success_rate if k.final_success_rate is not None else 1.0
    return (0 if firing else 1, -undelivered_now, -k.failures, final, e.endpoint_id)


SORT_KEYS: dict[str, Callable[[EndpointKpis, int, bool], tuple[object, ...]]] = {
    "health": health_rank,
    "name": lambda e, _, __: (e.endpoint_id,),
    "attempts": lambda e, _, __: (-e.kpis.attempts, e.endpoint_id),
}


class EndpointsTable(SettledTable):
    """One row per endpoint; `show` adds, updates (changed cells only) and removes rows, then orders them by
    `sort` (worst first by default), keeping the cursor on the endpoint it was on."""

    def __init__(self, *, id: str) -> None:  # noqa: A002  (Textual names it id)
        super().__init__(id=id)
        self.sort_by = "health"
        self._order: list[str] = []
        self._kpis: dict[str, EndpointKpis] = {}
        self._undelivered: dict[str, int] = {}
        self._marks: dict[str, EndpointMark] = {}  # alerts firing, recoveries: the mark column shows them
        self._now = 0

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for column in COLUMNS:
            self.add_column(column, key=column)

    def mark_cell(self, e: EndpointKpis, undelivered: int) -> Text:
        """The alert mark (firing, recovered) when there is one, else the endpoint's health."""
        k = e.kpis
        return row_mark(self._marks.get(e.endpoint_id)) or health(
            k.first_attempt_success_rate, k.final_success_rate, undelivered
        )

    def cells(self, e: EndpointKpis, now_ms: int, undelivered: int) -> dict[str, Text]:
        k = e.kpis
        return {
            "●": self.mark_cell(e, undelivered),
            "endpoint": literal(e.endpoint_id),
            "attempts": Text(fmt.count(k.attempts), justify="right"),
            "1st-try": Text(fmt.pct(k.first_attempt_success_rate), justify="right"),
            "final": Text(fmt.pct(k.final_success_rate), justify="right"),
            "p95": Text(fmt.latency(k.latency.p95), justify="right"),
            "failed": Text(fmt.count(k.failures), justify="right", style="red" if k.failures else ""),
            "undeliv": Text(fmt.count(undelivered), justify="right", style="bold red" if undelivered else ""),
            "last fail": Text(fmt.age(e.last_failure_ms, now_ms), no_wrap=True),
        }

    def show(self, endpoints: tuple[EndpointKpis, ...], now_ms: int, undelivered_now: dict[str, int]) -> int:
        """Bring the rows up to date; returns how many cells changed."""
        self._kpis = {e.endpoint_id: e for e in endpoints}
        for endpoint_id, undelivered in undelivered_now.items():
            if undelivered and endpoint_id not in self._kpis:  # a backlog older than the window: still a row
                self._kpis[endpoint_id] = EndpointKpis(endpoint_id, Kpis())
        self._undelivered = dict(undelivered_now)
        self._now = now_ms
        return self.reorder()

    def mark(self, marks: dict[str, EndpointMark]) -> None:
        """Show alerts firing and recoveries in the mark column (firing endpoints sort first)."""
        self._marks = dict(marks)
        self.reorder()

    @property
    def hidden(self) -> int:
        """Endpoints beyond the MAX_ROWS shown."""
        return max(0, len(self._kpis) - MAX_ROWS)

    def _ranked(self) -> list[str]:
        """The endpoints to show, in `sort_by` order: the first MAX_ROWS of them."""
        rank = SORT_KEYS[self.sort_by]
        firing = {e for e, m in self._marks.items() if m.firing}

        def key(endpoint_id: str) -> tuple[object, ...]:
            return rank(self._kpis[endpoint_id], self._undelivered.get(endpoint_id, 0), endpoint_id in firing)

        if len(self._kpis) > MAX_ROWS:
            return heapq.nsmallest(MAX_ROWS, self._kpis, key=key)
        return sorted(self._kpis, key=key)

    def reorder(self) -> int:
        """Rows for the endpoints ranked first (changed cells only), in `sort_by` order; the cursor stays on the
        same endpoint. Returns how many cells changed."""
        order = self._ranked()
        wanted = set(order)
        for key in [k for k in self.rows if k.value not in wanted]:
            self.remove_row(key)
        shown = {k.value for k in self.rows}
        changed = 0
        for endpoint_id in order:
            e = self._kpis[endpoint_id]
            cells = self.cells(e, self._now, self._undelivered.get(endpoint_id, e.kpis.undelivered))
            if endpoint_id not in shown:
                self.add_row(*(cells[c] for c in COLUMNS), key=endpoint_id)
                changed += len(COLUMNS)
                continue
            for column, value in cells.items():
                if not same_text(self.get_cell(endpoint_id, column), value):
                    self.update_cell(endpoint_id, column, value, update_width=True)
                    changed += 1
        if order != self._order:
            current = self.current_endpoint() if self._order else None  # the first time, the worst gets it
            by_label = {plain(endpoint_id): index for index, endpoint_id in enumerate(order)}
            self.sort("endpoint", key=lambda cell: by_label.get(str(cell), len(order)))
            self._order = order
            self.move_cursor(row=order.index(current) if current in wanted else 0, animate=False)
        return changed

    def current_endpoint(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)
