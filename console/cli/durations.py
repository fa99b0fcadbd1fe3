"""The duration option type every command shares: `250ms`, `30s`, `5m`, `2h`, `7d`, `2w`, within bounds.

A value out of bounds (or not a duration) is click's usage error naming the option, before the command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from console.domain.times import MS_PER_DAY, bounded_duration_ms

INTERVAL_MAX_MS = MS_PER_DAY  # how often something runs: --every, --refresh
SPAN_MAX_MS = 366 * MS_PER_DAY  # how long something lasts or counts: --duration, --down-for, --stuck-after
AGE_MAX_MS = 36_500 * MS_PER_DAY  # how far back: prune's --older-than (the store holds 1970 to 2100)


class Duration(click.ParamType):  # type: ignore[type-arg]  # (generic in the stubs only)
    """A duration between `minimum_ms` and `maximum_ms`, in milliseconds (or seconds with `seconds=True`)."""

    name = "duration"

    def __init__(self, maximum_ms: int, minimum_ms: int = 0, *, seconds: bool = False) -> None:
        self.maximum_ms = maximum_ms
        self.minimum_ms = minimum_ms
        self.seconds = seconds

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value  # a default given in the unit already
        try:
            ms = bounded_duration_ms(value, self.maximum_ms, self.minimum_ms)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return ms / 1000 if self.seconds else ms


def interval(minimum_ms: int) -> Duration:
    """How often something runs, in seconds: at least `minimum_ms`, at most a day."""
    return Duration(INTERVAL_MAX_MS, minimum_ms, seconds=True)


_F = TypeVar("_F", bound=Callable[..., Any])
POLL_EVERY = "2s"  # how often a dispatcher database is polled, unless the command's option says otherwise


def poll_every_option(*names: str, text: str) -> Callable[[_F], _F]:
    """The option saying how often each database source is polled (ingest's and tui's --every, watch's
    --every-source): one default, one floor, in seconds."""
    return click.option(*names, default=POLL_EVERY, show_default=True, type=interval(100), help=text)
