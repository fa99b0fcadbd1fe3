"""Records that cross layers: one delivery attempt and one event, as ingest and the sender produce them.

They are NamedTuples whose field order is the store's column order, so a batch of them goes to the database
as it is, without copying (ingest handles a million of them per run).
"""

from __future__ import annotations

from typing import NamedTuple

from console.domain.outcomes import Outcome, Trigger


class EventRecord(NamedTuple):
    """One event: its payload is kept once, as the exact bytes a receiver is sent."""

    event_id: str
    event_type: str
    occurred_at_ms: int
    payload: bytes
    user_id: str | None = None
    reward_id: str | None = None
    amount: str | None = None
    currency: str | None = None


class AttemptRecord(NamedTuple):
    """One HTTP delivery attempt of one event to one endpoint.

    `(event_id, endpoint_id, attempt, trigger)` is its natural key: the same attempt ingested twice is stored
    once. Scheduled (dispatcher) and manual (replay) attempts are numbered in sequences of their own.
    """

    event_id: str
    event_type: str
    endpoint_id: str
    attempt: int
    attempted_at_ms: int
    outcome: Outcome
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    trigger: Trigger = Trigger.SCHEDULED
    replay_job_id: str | None = None
    request_headers: str | None = None
    response_excerpt: str | None = None

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.event_id, self.endpoint_id, self.attempt, self.trigger)
