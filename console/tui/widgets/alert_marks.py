"""Alert marks on the dashboard: the endpoint row's mark, the line under the endpoint table that spells the
marks out, and the header's count of firing alerts."""

from __future__ import annotations

from rich.text import Text

from console.domain import formatting as fmt
from console.domain.alert_marks import EndpointMark
from console.tui.text import plain
from console.tui.widgets.line import Line

FIRING = "▲"
RECOVERED = "✓"
LEGEND = [  # for the help screen: short enough not to wrap at 80 columns
    (FIRING, "an alert is firing (hookconsole watch)"),
    (RECOVERED, "recovered after failing: time to replay"),
]


def row_mark(mark: EndpointMark | None) -> Text | None:
    """The endpoint row's mark, in place of its health dot; None when there is nothing to say."""
    if mark is None:
        return None
    if mark.firing:
        return Text(FIRING, style="bold red")
    return Text(RECOVERED, style="bold green")


def firing_count(marks: dict[str, EndpointMark]) -> int:
    """Firing alerts: one per (rule, endpoint)."""
    return sum(len(m.firing_rules) for m in marks.values())


def header_count(marks: dict[str, EndpointMark]) -> Text:
    """`▲ 2 alerts firing ·` for the start of the dashboard's header line (nothing when none fire)."""
    count = firing_count(marks)
    if not count:
        return Text()
    return Text.assemble((f"{FIRING} {count} alert{'s' if count > 1 else ''} firing", "bold red"), " ·")


def summary(marks: dict[str, EndpointMark], now_ms: int) -> Text:
    """Each marked endpoint in words: firing ones first (oldest first), then recoveries (newest first)."""
    firing = sorted(
        (m for m in marks.values() if m.firing), key=lambda m: (m.firing_since_ms or 0, m.endpoint_id)
    )
    back = sorted(
        (m for m in marks.values() if not m.firing), key=lambda m: (-(m.recovered_ms or 0), m.endpoint_id)
    )
    parts: list[Text] = []
    for m in firing:
        since = m.firing_since_ms or now_ms
        parts.append(
            Text.assemble(
                (f"{FIRING} {plain(m.endpoint_id)} firing {fmt.age(since, now_ms)}", "bold red"),
                f": {', '.join(plain(r) for r in m.firing_rules)}",
                (
                    f", succeeding again for {fmt.age(m.recovered_ms, now_ms)}"
                    if m.recovered_ms is not None
                    else "",
                    "green",
                ),
            )
        )
    for m in back:
        parts.append(
            Text.assemble(
                (
                    f"{RECOVERED} {plain(m.endpoint_id)} recovered {fmt.age(m.recovered_ms, now_ms)} ago",
                    "bold green",
                ),
            )
        )
    line = Text("  ").join(parts)
    line.no_wrap, line.overflow = True, "ellipsis"  # one line: each endpoint's row carries its mark anyway
    return line


class AlertsLine(Line):
    """One line under the endpoint table; hidden while nothing fires or recovered. The dashboard gets the class
    `-alerts` meanwhile, so the failures table can give up a line for it at 80x24. Only showing or hiding it
    lays the screen out again; a new text redraws the line alone."""

    DEFAULT_CSS = "AlertsLine { height: 1; padding: 0 1; }"

    def __init__(self, *, id: str) -> None:  # noqa: A002  (Textual names it id)
        super().__init__("", id=id)
        self.display = False

    def show_marks(self, marks: dict[str, EndpointMark], now_ms: int) -> None:
        self.display = bool(marks)
        self.screen.set_class(bool(marks), "-alerts")
        if marks:
            self.show(summary(marks, now_ms))
