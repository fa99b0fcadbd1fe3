"""Alert and metrics values shared by the store and the watch service: states, outbox items, totals."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AlertState(StrEnum):
    """Where one (rule, endpoint) stands. `pending`: the condition holds but not yet for the rule's `for`."""

    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertStateRow:
    """The stored state of one (rule, endpoint).

    `since_ms` is when the condition started to hold (the incident's start, kept after it resolves);
    `changed_ms` when the state last changed; `notified_ms` when a notification was last queued.
    """

    rule: str
    endpoint_id: str
    state: AlertState
    since_ms: int | None = None
    changed_ms: int = 0
    notified_ms: int | None = None
    value: float | None = None


@dataclass(frozen=True)
class FiringAlert:
    """A rule firing for an endpoint since a time (what the console marks on the endpoint's row)."""

    rule: str
    endpoint_id: str
    since_ms: int
    value: float | None = None


@dataclass(frozen=True)
class ResolvedAlert:
    """A rule that fired for an endpoint and has resolved: the endpoint recovered at `resolved_ms`."""

    rule: str
    endpoint_id: str
    since_ms: int | None
    resolved_ms: int


@dataclass(frozen=True)
class OutboxItem:
    """One notification waiting for (or already through) one channel. `body` is the JSON notification."""

    seq: int
    channel: str
    notification_id: str
    body: bytes
    created_ms: int
    tries: int = 0
    next_try_ms: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Backlog:
    """Undelivered deliveries of one endpoint, whenever first tried, and the oldest one's first attempt."""

    endpoint_id: str
    undelivered: int
    oldest_ms: int | None


@dataclass(frozen=True)
class FailureCount:
    """Failed attempts of one kind in a window: an HTTP status (None for a transport error) and an error kind
    (console.domain.outcomes.ErrorKind; empty for an HTTP error)."""

    status_code: int | None
    error_kind: str
    count: int

    @property
    def label(self) -> str:
        """`HTTP 503`, `timeout`, `connection_refused`, `HTTP 502 (connection_reset)`."""
        if self.status_code is None:
            return self.error_kind or "no answer"
        return f"HTTP {self.status_code}" + (f" ({self.error_kind})" if self.error_kind else "")
