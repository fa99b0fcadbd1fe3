"""Gaps in the attempt log: "can I trust it?" Three kinds, counted and listed (docs/gaps.md).

- skipped attempt numbers: a delivery's scheduled attempts jump (attempt 3 stored, 2 missing);
- missing deliveries: an event with a payload has no attempt at an endpoint that received most of the other
  events of its type first tried in the same hour (events still in flight, first tried within the in-flight
  horizon, are left out);
- stuck deliveries: undelivered, fewer attempts than the dispatcher's maximum, and the last one older than the
  horizon by which the dispatcher's next retry would have come.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from console.domain.times import MS_PER_HOUR, format_ms

DEFAULT_STUCK_AFTER_MS = (
    12 * MS_PER_HOUR
)  # Svix's and Convoy's longest default interval is 10 h; 2 h of slack
# An event first tried within this long before now may still be on its way to its other endpoints: a dispatcher
# fans an event out within seconds, or minutes when its queue is backed up.
DEFAULT_IN_FLIGHT_MS = MS_PER_HOUR
DEFAULT_MAX_TRIES = 8  # Svix's default: the first attempt and 7 retries
MIN_RECEIVED = 3  # an endpoint must have received at least this many other events of the type in the hour
DEFAULT_LIST_LIMIT = 20


@dataclass(frozen=True)
class GapRules:
    """The thresholds of the gap checks."""

    stuck_after_ms: int = DEFAULT_STUCK_AFTER_MS
    max_tries: int = DEFAULT_MAX_TRIES
    min_received: int = MIN_RECEIVED
    limit: int = DEFAULT_LIST_LIMIT
    in_flight_ms: int = DEFAULT_IN_FLIGHT_MS  # events younger than this are never called missing


@dataclass(frozen=True)
class SkippedAttempts:
    event_id: str
    endpoint_id: str
    stored: int  # scheduled attempts stored
    max_attempt: int
    missing: tuple[int, ...]  # the attempt numbers below max_attempt that are not stored


@dataclass(frozen=True)
class MissingDelivery:
    event_id: str
    event_type: str
    endpoint_id: str
    hour_ms: int  # the start of the hour the event was first tried in
    received: int  # other events of the type that hour the endpoint has
    events: int  # events of the type first tried that hour


@dataclass(frozen=True)
class StuckDelivery:
    event_id: str
    endpoint_id: str
    max_attempt: int
    last_attempt_at_ms: int
    last_outcome: str


@dataclass(frozen=True)
class GapReport:
    """Counts (all of them) and lists (the first `rules.limit`, oldest first) of each kind of gap."""

    rules: GapRules
    now_ms: int
    skipped_count: int = 0
    skipped: tuple[SkippedAttempts, ...] = ()
    missing_count: int = 0
    missing: tuple[MissingDelivery, ...] = ()
    stuck_count: int = 0
    stuck: tuple[StuckDelivery, ...] = field(default=())

    @property
    def total(self) -> int:
        return self.skipped_count + self.missing_count + self.stuck_count


def gaps_dict(report: GapReport) -> dict[str, object]:
    """The stable JSON shape (`stats --json`'s `gaps`)."""
    rules = report.rules
    return {
        "rules": {
            "stuck_after_s": rules.stuck_after_ms // 1000,
            "max_tries": rules.max_tries,
            "min_received": rules.min_received,
            "list_limit": rules.limit,
            "in_flight_s": rules.in_flight_ms // 1000,
        },
        "skipped_attempts": {
            "count": report.skipped_count,
            "deliveries": [
                {
                    "event_id": s.event_id,
                    "endpoint_id": s.endpoint_id,
                    "stored": s.stored,
                    "max_attempt": s.max_attempt,
                    "missing": list(s.missing),
                }
                for s in report.skipped
            ],
        },
        "missing_deliveries": {
            "count": report.missing_count,
            "deliveries": [
                {
                    "event_id": m.event_id,
                    "event_type": m.event_type,
                    "endpoint_id": m.endpoint_id,
                    "hour": format_ms(m.hour_ms),
                    "endpoint_received": m.received,
                    "events_that_hour": m.events,
                }
                for m in report.missing
            ],
        },
        "stuck": {
            "count": report.stuck_count,
            "deliveries": [
                {
                    "event_id": s.event_id,
                    "endpoint_id": s.endpoint_id,
                    "max_attempt": s.max_attempt,
                    "last_attempt_at": format_ms(s.last_attempt_at_ms),
                    "last_outcome": s.last_outcome,
                    "idle_s": max(0, (report.now_ms - s.last_attempt_at_ms) // 1000),
                }
                for s in report.stuck
            ],
        },
    }
