"""The sources `tui --follow` keeps flowing into the store, each with its state, on one line under the status
line: following, lagging N s, retrying since when and why, stopped and why (console/domain/follow.py). Shown
only while following; the dashboard gets the class `-following` meanwhile, so the endpoint table gives up a
line for it at 80x24."""

from __future__ import annotations

from rich.text import Text

from console.domain.follow import FollowState, FollowStatus, follow_segments
from console.domain.safetext import one_line
from console.tui.widgets.line import Line

STYLES = {
    FollowState.FOLLOWING: "",
    FollowState.LAGGING: "bold yellow",
    FollowState.RETRYING: "bold red",
    FollowState.STOPPED: "bold red",
}


def follow_text(statuses: list[FollowStatus], width: int) -> Text:
    line = Text(" ", no_wrap=True, overflow="ellipsis")
    for n, (part, state) in enumerate(follow_segments(statuses, width)):
        if n:
            line.append(" · ")
        line.append(one_line(part), STYLES[state])
    return line


class FollowLine(Line):
    DEFAULT_CSS = "FollowLine { height: 1; background: $boost; }"

    def __init__(self, *, id: str) -> None:  # noqa: A002  (Textual names it id)
        super().__init__("", id=id)

    def show_states(self, statuses: list[FollowStatus]) -> None:
        self.show(follow_text(statuses, self.size.width or self.app.size.width))
