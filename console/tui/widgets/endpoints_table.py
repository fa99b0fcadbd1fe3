"""The dashboard's endpoint table: rows keyed by endpoint id, only changed cells updated on a refresh."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from console.domain.kpis import EndpointKpis
from console.tui.text import age, health, literal, ms, pct

COLUMNS = ("●", "endpoint", "attempts", "1st-try", "final", "p95", "failed", "undeliv", "last fail")


def same(old: object, new: Text) -> bool:
    """Rich's Text equality ignores the base style; a health mark that turns red must count as changed."""
    return (
        isinstance(old, Text)
        and old.plain == new.plain
        and str(old.style) == str(new.style)
        and old.spans == new.spans
    )


class EndpointsTable(DataTable[Text | str]):
    """One row per endpoint; `show` adds, updates (changed cells only) and removes rows."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for column in COLUMNS:
            self.add_column(column, key=column)

    def cells(self, e: EndpointKpis, now_ms: int) -> dict[str, Text]:
        k = e.kpis
        return {
            "●": health(k.first_attempt_success_rate, k.final_success_rate, k.undelivered),
            "endpoint": literal(e.endpoint_id),
            "attempts": Text(f"{k.attempts:,}", justify="right"),
            "1st-try": Text(pct(k.first_attempt_success_rate), justify="right"),
            "final": Text(pct(k.final_success_rate), justify="right"),
            "p95": Text(ms(k.latency.p95), justify="right"),
            "failed": Text(f"{k.failures:,}", justify="right", style="red" if k.failures else ""),
            "undeliv": Text(f"{k.undelivered:,}", justify="right", style="bold red" if k.undelivered else ""),
            "last fail": Text(age(e.last_failure_ms, now_ms) + (" ago" if e.last_failure_ms else "")),
        }

    def show(self, endpoints: tuple[EndpointKpis, ...], now_ms: int) -> int:
        """Bring the rows up to date; returns how many cells changed."""
        changed = 0
        wanted = {e.endpoint_id for e in endpoints}
        for key in [k for k in self.rows if k.value not in wanted]:
            self.remove_row(key)
        for e in endpoints:
            cells = self.cells(e, now_ms)
            if e.endpoint_id not in {k.value for k in self.rows}:
                self.add_row(*(cells[c] for c in COLUMNS), key=e.endpoint_id)
                changed += len(COLUMNS)
                continue
            for column, value in cells.items():
                if not same(self.get_cell(e.endpoint_id, column), value):
                    self.update_cell(e.endpoint_id, column, value)
                    changed += 1
        return changed
