"""What a followed source is doing, as the console's header, `ingest --follow` and `watch` show it: following,
lagging N s, retrying since a time (with the one-line reason), or stopped (with the reason)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from console.domain import formatting as fmt
from console.domain.times import format_ms


class FollowState(StrEnum):
    FOLLOWING = "following"
    LAGGING = "lagging"
    RETRYING = "retrying"
    STOPPED = "stopped"


@dataclass(frozen=True)
class FollowStatus:
    """One followed source: `source` names it in full (a path, a URL without credentials), `name` briefly
    (a file's name, `svix shop`); `since_ms` and `tries` describe a failure streak (RETRYING)."""

    source: str
    name: str
    state: FollowState
    lag_s: float = 0.0
    since_ms: int | None = None
    tries: int = 0
    reason: str = ""

    @property
    def detail(self) -> str:
        """The reason without the source's name in front (it is said beside it)."""
        return self.reason.removeprefix(f"{self.source}: ")

    def text(self, with_reason: bool = True) -> str:
        """`following`, `lagging 42s`, `retrying since 12:03:04 (3 tries): <reason>`, `stopped: <reason>`."""
        if self.state is FollowState.LAGGING:
            return f"lagging {fmt.duration(self.lag_s * 1000)}"
        if self.state is FollowState.RETRYING:
            since = format_ms(self.since_ms)[11:19] if self.since_ms is not None else "?"
            tries = f" ({self.tries} tries)" if self.tries > 1 else ""
            head = f"retrying since {since}{tries}"
            return f"{head}: {self.detail}" if with_reason and self.reason else head
        if self.state is FollowState.STOPPED:
            return f"stopped: {self.detail}" if with_reason and self.reason else "stopped"
        return "following"


MIN_NAME = 6  # a name is cut (ending in "…") no shorter than this to fit the line


def follow_segments(statuses: list[FollowStatus], width: int) -> list[tuple[str, FollowState]]:
    """The followed sources and their states as the parts of one line of `width` columns (joined by ` · `,
    after a space): with the reasons when they fit; else with the states' times; else each source's name
    (cut if need be) and its state; else the names of those in trouble and a count of the others; else counts."""
    for with_reason in (True, False):
        parts = [(s.name, s.text(with_reason), s.state) for s in statuses]
        if _length(parts) <= width:
            return [(f"{name} {text}", state) for name, text, state in parts]
    troubled = [s for s in statuses if s.state is not FollowState.FOLLOWING]
    following = len(statuses) - len(troubled)
    for chosen, tail in ((statuses, 0), (troubled, following)):
        parts = [(s.name, s.state.value, s.state) for s in chosen]
        if tail:
            parts.append(("", f"{tail} following", FollowState.FOLLOWING))
        fitted = _cut_names(parts, width)
        if fitted is not None:
            return fitted
    counts: dict[FollowState, int] = {}
    for s in statuses:
        counts[s.state] = counts.get(s.state, 0) + 1
    return [(f"{n} {state.value}", state) for state, n in counts.items()]


def _length(parts: list[tuple[str, str, FollowState]]) -> int:
    return 1 + sum(len(name) + bool(name) + len(text) for name, text, _ in parts) + 3 * (len(parts) - 1)


def _cut_names(parts: list[tuple[str, str, FollowState]], width: int) -> list[tuple[str, FollowState]] | None:
    """The parts with the longest names cut, one character at a time, until the line fits; None if it cannot."""
    names = [name for name, _, _ in parts]
    over = _length(parts) - width
    while over > 0:
        longest = max(range(len(names)), key=lambda i: len(names[i]))
        if len(names[longest]) <= MIN_NAME:
            return None
        names[longest] = names[longest][:-2] + "…"  # one character less, the ellipsis kept
        over -= 1
    return [(f"{name} {text}".strip(), state) for name, (_, text, state) in zip(names, parts, strict=True)]
