"""The report's "Gaps in the log" section: counts and the first rows of each kind of gap (docs/gaps.md)."""

from __future__ import annotations

from collections.abc import Callable

from console.domain import formatting as fmt
from console.domain.gaps import GapReport
from console.domain.times import format_ms


def gaps_section(gaps: GapReport, section: Callable[[str, str, str], str], table: Callable[..., str]) -> str:
    """HTML for the gap counts and lists; `section` and `table` are the page's own builders."""
    rules = gaps.rules
    skipped = [
        (s.event_id, s.endpoint_id, s.stored, s.max_attempt, ", ".join(map(str, s.missing)))
        for s in gaps.skipped
    ]
    missing = [
        (m.event_id, m.event_type, m.endpoint_id, format_ms(m.hour_ms), f"{m.received} of {m.events - 1}")
        for m in gaps.missing
    ]
    stuck = [
        (
            s.event_id,
            s.endpoint_id,
            s.max_attempt,
            format_ms(s.last_attempt_at_ms),
            s.last_outcome,
            fmt.age(s.last_attempt_at_ms, gaps.now_ms),
        )
        for s in gaps.stuck
    ]
    body = (
        f"<p>{fmt.counted(gaps.skipped_count, 'delivery')} with skipped attempt numbers</p>"
        + table(["event", "endpoint", "stored", "highest", "missing numbers"], skipped, [2, 3])
        + f"<p>{fmt.counted(gaps.missing_count, 'event')} with no attempt at an endpoint that received most other "
        f"events of their type that hour (events first tried in the last {fmt.duration(rules.in_flight_ms)} "
        "may still be on their way: not counted)</p>"
        + table(["event", "type", "endpoint", "hour", "endpoint received"], missing)
        + f"<p>{fmt.counted(gaps.stuck_count, 'stuck delivery', 'stuck deliveries')} (undelivered, fewer than "
        f"{rules.max_tries} attempts, none for {fmt.duration(rules.stuck_after_ms)})</p>"
        + table(["event", "endpoint", "attempts", "last attempt", "outcome", "idle"], stuck, [2])
    )
    caption = (
        f"Can the attempt log be trusted? Deliveries first tried in the window; first {rules.limit} of each."
    )
    return section("Gaps in the log", caption, body)
