"""The options of the gap checks (`stats --json`'s `gaps` object; docs/gaps.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from console.cli.durations import SPAN_MAX_MS, Duration
from console.domain.gaps import DEFAULT_IN_FLIGHT_MS, DEFAULT_MAX_TRIES, DEFAULT_STUCK_AFTER_MS

F = TypeVar("F", bound=Callable[..., Any])


def gap_options(func: F) -> F:
    """--gaps/--no-gaps, --stuck-after, --max-tries, --in-flight."""
    func = click.option(
        "--in-flight",
        default=f"{DEFAULT_IN_FLIGHT_MS // 3_600_000}h",
        show_default=True,
        type=Duration(SPAN_MAX_MS, minimum_ms=1),
        help="Gaps: an event first tried this recently may still reach its other endpoints; never missing.",
    )(func)
    func = click.option(
        "--max-tries",
        type=click.IntRange(1, 1000),
        default=DEFAULT_MAX_TRIES,
        show_default=True,
        help="Gaps: the dispatcher's maximum attempts; a delivery with fewer can still be retried.",
    )(func)
    func = click.option(
        "--stuck-after",
        default=f"{DEFAULT_STUCK_AFTER_MS // 3_600_000}h",
        show_default=True,
        type=Duration(SPAN_MAX_MS, minimum_ms=1),
        help="Gaps: an undelivered delivery with no attempt for this long is stuck.",
    )(func)
    return click.option(
        "--gaps/--no-gaps",
        default=True,
        show_default=True,
        help="With --json: add the `gaps` object (skipped attempt numbers, missing and stuck deliveries).",
    )(func)
