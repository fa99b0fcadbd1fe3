"""One delivery (an event at an endpoint) as the explorer and the replay planner see it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryRow:
    event_id: str
    endpoint_id: str
    event_type: str
    attempts: int
    successes: int
    max_attempt: int
    first_attempt_at_ms: int
    last_attempt_at_ms: int
    last_outcome: str
    last_status_code: int | None
    last_error: str | None
    delivered_at_ms: int | None
    user_id: str | None
    reward_id: str | None
    amount: str | None
    currency: str | None
    resolved_at_ms: int | None = (
        None  # resolved ("won't send"); a delivered one is delivered whatever this says
    )

    @property
    def delivered(self) -> bool:
        return self.delivered_at_ms is not None

    @property
    def resolved(self) -> bool:
        return self.resolved_at_ms is not None and self.delivered_at_ms is None

    @property
    def key(self) -> tuple[str, str]:
        return (self.event_id, self.endpoint_id)


@dataclass(frozen=True)
class PageCursor:
    """Where a page of deliveries ends, for keyset paging (first attempt time, then ids)."""

    first_attempt_at_ms: int
    event_id: str
    endpoint_id: str
