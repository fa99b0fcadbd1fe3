"""What the live console shows: dashboard snapshots, failure feed rows, an event with its attempts."""

from __future__ import annotations

from dataclasses import dataclass, field

from console.domain.kpis import StatsSnapshot
from console.domain.resolutions import Resolution


@dataclass(frozen=True)
class FailureRow:
    seq: int
    attempted_at_ms: int
    event_id: str
    endpoint_id: str
    event_type: str
    attempt: int
    status_code: int | None
    outcome: str
    error: str | None


@dataclass(frozen=True)
class SeriesPoint:
    start_ms: int
    attempts: int
    successes: int

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None


@dataclass(frozen=True)
class DashboardSnapshot:
    """One refresh of the dashboard: figures for the window, a series for the chart, the newest failures."""

    window_ms: int
    now_ms: int
    stats: StatsSnapshot
    series: tuple[SeriesPoint, ...]
    failures: tuple[FailureRow, ...]
    last_seq: int
    backlog: int
    oldest_undelivered_ms: int | None


@dataclass(frozen=True)
class AttemptView:
    seq: int
    endpoint_id: str
    attempt: int
    attempted_at_ms: int
    status_code: int | None
    latency_ms: float | None
    outcome: str
    error: str | None
    trigger: str
    replay_job_id: str | None
    request_headers: dict[str, str] | None
    response_excerpt: str | None


@dataclass(frozen=True)
class EventDetail:
    event_id: str
    event_type: str
    occurred_at_ms: int
    payload: bytes
    user_id: str | None
    reward_id: str | None
    amount: str | None
    currency: str | None
    attempts: tuple[AttemptView, ...] = field(default_factory=tuple)
    endpoints: tuple[str, ...] = ()
    resolutions: tuple[Resolution, ...] = ()  # every resolve and reopen of its deliveries, oldest first
