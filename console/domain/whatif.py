"""What-if retry policies: candidate schedules and the figures each would have produced (docs/whatif.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from console.domain.times import MS_PER_DAY, bounded_duration_ms, format_ms

MAX_RETRIES = 50
MAX_SPAN_MS = 30 * MS_PER_DAY
OBSERVED = "observed"  # the label of what the real schedule did


@dataclass(frozen=True)
class Schedule:
    """Retry delays in ms, each counted from the previous attempt (the first attempt is not in the list)."""

    text: str
    delays_ms: tuple[int, ...]

    @property
    def offsets_ms(self) -> tuple[int, ...]:
        """Each retry's time after the first attempt."""
        total, out = 0, []
        for delay in self.delays_ms:
            total += delay
            out.append(total)
        return tuple(out)

    @property
    def max_tries(self) -> int:
        return len(self.delays_ms) + 1


def parse_schedule(text: str) -> Schedule:
    """`5s,5m,30m,2h,5h,10h,10h` -> a Schedule; ValueError naming the bad entry."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError(f"{text!r}: expected comma-separated delays like 5s,5m,30m,2h")
    if len(parts) > MAX_RETRIES:
        raise ValueError(f"{text!r}: at most {MAX_RETRIES} retries")
    delays = []
    for n, part in enumerate(parts, 1):
        try:
            delays.append(bounded_duration_ms(part, MAX_SPAN_MS, minimum_ms=1))
        except ValueError as exc:
            raise ValueError(f"retry {n} of {text!r}: {exc}") from None
    if sum(delays) > MAX_SPAN_MS:
        raise ValueError(f"{text!r}: the retries span more than 30 days")
    return Schedule(",".join(parts), tuple(delays))


def nearest_rank(counts: Mapping[int, int], q: float) -> int | None:
    """The nearest-rank percentile (the smallest value with at least q of the values at or below it)."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(round(q * total, 9)))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return max(counts)  # pragma: no cover - rank <= total


@dataclass(frozen=True)
class PolicyFigures:
    """What one schedule did (or would have done) for the deliveries of one endpoint (or all of them)."""

    endpoint_id: str  # "all" for the total
    deliveries: int
    first_failed: int  # deliveries whose first attempt failed (the same under every schedule)
    delivered: int
    exhausted: int  # every try failed (observed: still undelivered)
    pending: int  # a retry would fall after the end of the recorded history (observed: always 0)
    delay_p50_ms: int | None  # from first attempt to delivery, of the retried deliveries that were delivered
    delay_p95_ms: int | None
    peak_per_s: int  # most attempts the endpoint received in one second (all: the busiest endpoint's)
    attempts: int  # attempts made (observed: scheduled attempts in the window)


@dataclass(frozen=True)
class PolicyResult:
    label: str  # OBSERVED or the schedule's text
    schedule: Schedule | None
    endpoints: tuple[PolicyFigures, ...]
    total: PolicyFigures


@dataclass(frozen=True)
class WhatIfResult:
    since_ms: int
    until_ms: int
    history_end_ms: int | None  # the end of the recorded health; later retries are pending
    policies: tuple[PolicyResult, ...]


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 3)


def figures_dict(f: PolicyFigures) -> dict[str, object]:
    return {
        "endpoint_id": f.endpoint_id,
        "deliveries": f.deliveries,
        "first_attempt_failed": f.first_failed,
        "delivered": f.delivered,
        "exhausted": f.exhausted,
        "pending": f.pending,
        "added_delay_s": {"p50": _seconds(f.delay_p50_ms), "p95": _seconds(f.delay_p95_ms)},
        "peak_attempts_per_s": f.peak_per_s,
        "attempts": f.attempts,
    }


def whatif_dict(result: WhatIfResult) -> dict[str, object]:
    """The stable JSON shape of `whatif --json`."""
    return {
        "window": {"since": format_ms(result.since_ms), "until": format_ms(result.until_ms)},
        "history_end": format_ms(result.history_end_ms) if result.history_end_ms is not None else None,
        "retry_after": "not modelled: the log does not store Retry-After",
        "policies": [
            {
                "schedule": p.label,
                "retry_delays_s": None if p.schedule is None else [d / 1000 for d in p.schedule.delays_ms],
                "total": figures_dict(p.total),
                "endpoints": [figures_dict(f) for f in p.endpoints],
            }
            for p in result.policies
        ],
    }
