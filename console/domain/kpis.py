"""Figures for a window. Every figure says whether it counts attempts or deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles (ms) read from the rollups' histogram, over attempts that had a latency."""

    count: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None


@dataclass(frozen=True)
class Kpis:
    """Attempt counts come from attempts in the window; delivery counts from deliveries first tried in it."""

    attempts: int = 0
    successes: int = 0
    http_errors: int = 0
    timeouts: int = 0
    network_errors: int = 0
    first_attempts: int = 0
    first_attempt_successes: int = 0
    deliveries: int = 0
    delivered: int = 0
    resolved: int = 0  # undelivered but resolved ("won't send"): counted apart, not undelivered
    oldest_undelivered_ms: int | None = None
    latency: LatencySummary = field(default_factory=LatencySummary)

    @property
    def failures(self) -> int:
        """Failed attempts."""
        return self.attempts - self.successes

    @property
    def undelivered(self) -> int:
        """Deliveries with no success yet and not resolved."""
        return self.deliveries - self.delivered - self.resolved

    @property
    def first_attempt_success_rate(self) -> float | None:
        """Share of first attempts (attempt number 1) that succeeded."""
        return self.first_attempt_successes / self.first_attempts if self.first_attempts else None

    @property
    def final_success_rate(self) -> float | None:
        """Share of deliveries that have succeeded by now (eventual success)."""
        return self.delivered / self.deliveries if self.deliveries else None


@dataclass(frozen=True)
class CodeCount:
    """A failure bucket: an HTTP status code or a transport error kind, and how many attempts hit it."""

    label: str
    count: int


@dataclass(frozen=True)
class EndpointKpis:
    """One endpoint's figures plus its top failure reasons (attempt counts)."""

    endpoint_id: str
    kpis: Kpis
    top_status_codes: tuple[CodeCount, ...] = ()
    top_errors: tuple[CodeCount, ...] = ()
    last_failure_ms: int | None = None


@dataclass(frozen=True)
class StatsSnapshot:
    """What `stats` prints and the dashboard shows: overall, per endpoint and per event type."""

    since_ms: int | None
    until_ms: int | None
    overall: Kpis
    endpoints: tuple[EndpointKpis, ...] = ()
    event_types: tuple[tuple[str, Kpis], ...] = ()
    last_seq: int = 0


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def kpis_dict(kpis: Kpis, now_ms: int) -> dict[str, object]:
    """The stable JSON shape of a Kpis (`stats --json`, exports): attempts and deliveries kept apart."""
    from console.domain.times import format_ms

    oldest = kpis.oldest_undelivered_ms
    return {
        "attempts": kpis.attempts,
        "outcomes": {
            "success": kpis.successes,
            "http_error": kpis.http_errors,
            "timeout": kpis.timeouts,
            "network_error": kpis.network_errors,
        },
        "deliveries": kpis.deliveries,
        "delivered": kpis.delivered,
        "undelivered": kpis.undelivered,
        "resolved": kpis.resolved,
        "oldest_undelivered_at": format_ms(oldest) if oldest is not None else None,
        "oldest_undelivered_age_s": None if oldest is None else max(0, (now_ms - oldest) // 1000),
        "first_attempt_success_rate": _rounded(kpis.first_attempt_success_rate, 6),
        "final_success_rate": _rounded(kpis.final_success_rate, 6),
        "latency_ms": {
            "p50": _rounded(kpis.latency.p50, 2),
            "p95": _rounded(kpis.latency.p95, 2),
            "p99": _rounded(kpis.latency.p99, 2),
            "mean": _rounded(kpis.latency.mean, 2),
            "count": kpis.latency.count,
        },
    }


def snapshot_dict(snapshot: StatsSnapshot, now_ms: int) -> dict[str, object]:
    """The stable JSON shape of `stats --json`."""
    from console.domain.times import format_ms

    data: dict[str, object] = {
        "window": {
            "since": format_ms(snapshot.since_ms) if snapshot.since_ms is not None else None,
            "until": format_ms(snapshot.until_ms) if snapshot.until_ms is not None else None,
        },
        **kpis_dict(snapshot.overall, now_ms),
    }
    data["endpoints"] = [
        {
            "id": e.endpoint_id,
            **kpis_dict(e.kpis, now_ms),
            "top_status_codes": [{"status": int(c.label), "count": c.count} for c in e.top_status_codes],
            "top_errors": [{"error": c.label, "count": c.count} for c in e.top_errors],
            "last_failure_at": format_ms(e.last_failure_ms) if e.last_failure_ms is not None else None,
        }
        for e in snapshot.endpoints
    ]
    data["event_types"] = [{"event_type": t, **kpis_dict(k, now_ms)} for t, k in snapshot.event_types]
    return data
