"""The old what-if computation, exact: every first attempt's and retry's second counted in a Counter, every
added delay kept as a value, each endpoint's health as a list of its minutes. The oracle `WhatIfFold` (which
keeps a page plus per-endpoint sums) is compared with on random histories (tests/test_whatif_bounded.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from console.domain.times import MS_PER_DAY, MS_PER_MINUTE
from console.domain.whatif import (
    OBSERVED,
    PolicyFigures,
    PolicyResult,
    Schedule,
    WhatIfResult,
    nearest_rank,
)
from console.store.engine import Store
from console.store.whatif import first_tried_pages, history_end_ms, observed_attempts, observed_peaks

HEALTH_LOOKBACK_MS = MS_PER_DAY
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]


def endpoint_health(
    store: Store, since_ms: int, until_ms: int, endpoint_ids: Sequence[str]
) -> dict[str, list[tuple[int, int, int]]]:
    """(minute, attempts, successes) per endpoint for the minutes in [since, until) that had attempts."""
    p = store.dialect.placeholder
    where, params = "", list[object]()
    if endpoint_ids:
        clause, params = store.dialect.in_list("endpoint_id", endpoint_ids)
        where = f" AND {clause}"
    sql = (
        "SELECT endpoint_id, bucket, SUM(attempts), SUM(successes) FROM rollup_minute "
        f"WHERE bucket >= {p} AND bucket < {p}{where} GROUP BY endpoint_id, bucket ORDER BY endpoint_id, bucket"
    )
    health: dict[str, list[tuple[int, int, int]]] = {}
    start, end = since_ms // MS_PER_MINUTE, -(-until_ms // MS_PER_MINUTE)
    with store.read() as conn:
        for endpoint_id, minute, attempts, successes in conn.exec_driver_sql(sql, (start, end, *params)):
            health.setdefault(endpoint_id, []).append((int(minute), int(attempts), int(successes)))
    return health


class Health:
    """Up/down per minute for one endpoint, carried forward over minutes without attempts."""

    def __init__(self, minutes: list[tuple[int, int, int]]) -> None:
        self.minutes = np.array([m for m, _, _ in minutes], dtype=np.int64)
        self.up = np.array([2 * ok > n for _, n, ok in minutes], dtype=np.bool_)

    def up_at(self, at_ms: I64) -> BOOL:
        if len(self.minutes) == 0:
            return np.ones(len(at_ms), dtype=np.bool_)
        index = np.searchsorted(self.minutes, at_ms // MS_PER_MINUTE, side="right") - 1
        return np.where(index >= 0, self.up[np.clip(index, 0, None)], True)


@dataclass
class _Tally:
    """Running sums for one policy at one endpoint."""

    deliveries: int = 0
    first_failed: int = 0
    delivered: int = 0
    exhausted: int = 0
    pending: int = 0
    attempts: int = 0
    delays: Counter[int] = field(default_factory=Counter)
    per_second: Counter[int] = field(default_factory=Counter)

    def count_seconds(self, at_ms: I64) -> None:
        if len(at_ms):
            seconds, counts = np.unique(at_ms // 1000, return_counts=True)
            self.per_second.update(dict(zip(seconds.tolist(), counts.tolist(), strict=True)))
            self.attempts += len(at_ms)

    def figures(self, endpoint_id: str, peak: int | None = None) -> PolicyFigures:
        return PolicyFigures(
            endpoint_id=endpoint_id,
            deliveries=self.deliveries,
            first_failed=self.first_failed,
            delivered=self.delivered,
            exhausted=self.exhausted,
            pending=self.pending,
            delay_p50_ms=nearest_rank(self.delays, 0.50),
            delay_p95_ms=nearest_rank(self.delays, 0.95),
            peak_per_s=peak if peak is not None else max(self.per_second.values(), default=0),
            attempts=self.attempts,
        )


def _simulate(
    tally: _Tally, schedule: Schedule, first_at: I64, first_ok: BOOL, health: Health, end_ms: int
) -> None:
    """Add one endpoint's page of deliveries, retried on `schedule`, to `tally`."""
    tally.deliveries += len(first_at)
    tally.first_failed += int((~first_ok).sum())
    tally.delivered += int(first_ok.sum())
    tally.count_seconds(first_at)
    waiting = first_at[~first_ok]
    for offset in schedule.offsets_ms:
        if not len(waiting):
            break
        at = waiting + offset
        late = at >= end_ms
        tally.pending += int(late.sum())
        at, waiting = at[~late], waiting[~late]
        tally.count_seconds(at)
        up = health.up_at(at)
        if up.any():
            tally.delivered += int(up.sum())
            tally.delays[offset] += int(up.sum())
        waiting = waiting[~up]
    tally.exhausted += len(waiting)


def _observe(tally: _Tally, first_at: I64, first_ok: BOOL, delivered_at: I64) -> None:
    """Add one endpoint's page of deliveries, as they really went, to `tally` (delivered_at -1: undelivered)."""
    delivered = delivered_at >= 0
    tally.deliveries += len(first_at)
    tally.first_failed += int((~first_ok).sum())
    tally.delivered += int(delivered.sum())
    tally.exhausted += int((~delivered).sum())
    retried = ~first_ok & delivered
    if retried.any():
        values, counts = np.unique(delivered_at[retried] - first_at[retried], return_counts=True)
        tally.delays.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))


def run_whatif(
    store: Store,
    schedules: Sequence[Schedule],
    since_ms: int,
    until_ms: int,
    endpoint_ids: Sequence[str] = (),
    page: int = 20_000,
) -> WhatIfResult:
    """The observed outcome and each schedule's, per endpoint and in total, for deliveries first tried in
    [since, until)."""
    end_ms = history_end_ms(store)
    if end_ms is None:
        return WhatIfResult(since_ms, until_ms, None, ())
    reach = max((sum(s.delays_ms) for s in schedules), default=0)
    raw = endpoint_health(store, since_ms - HEALTH_LOOKBACK_MS, min(end_ms, until_ms + reach), endpoint_ids)
    health: dict[str, Health] = {}
    observed: dict[str, _Tally] = {}
    candidates: list[dict[str, _Tally]] = [{} for _ in schedules]
    for rows in first_tried_pages(store, since_ms, until_ms, endpoint_ids, page):
        endpoints, first_ats, oks, delivered_ats = zip(*rows, strict=True)
        endpoint = np.array(endpoints, dtype=object)
        first_at = np.array(first_ats, dtype=np.int64)
        first_ok = np.array(oks, dtype=np.bool_)
        delivered_at = np.fromiter(
            (-1 if at is None else at for at in delivered_ats), dtype=np.int64, count=len(rows)
        )
        for endpoint_id in dict.fromkeys(endpoints):
            mask = endpoint == endpoint_id
            if endpoint_id not in health:
                health[endpoint_id] = Health(raw.get(endpoint_id, []))
            _observe(
                observed.setdefault(endpoint_id, _Tally()), first_at[mask], first_ok[mask], delivered_at[mask]
            )
            for schedule, tallies in zip(schedules, candidates, strict=True):
                tally = tallies.setdefault(endpoint_id, _Tally())
                _simulate(tally, schedule, first_at[mask], first_ok[mask], health[endpoint_id], end_ms)
    peaks = observed_peaks(store, since_ms, until_ms, endpoint_ids)
    real_attempts = observed_attempts(store, since_ms, until_ms, endpoint_ids)
    for endpoint_id, tally in observed.items():
        tally.attempts = real_attempts.get(endpoint_id, 0)
    policies = [_result(OBSERVED, None, observed, peaks)]
    policies += [_result(s.text, s, tallies, None) for s, tallies in zip(schedules, candidates, strict=True)]
    return WhatIfResult(since_ms, until_ms, end_ms, tuple(policies))


def _result(
    label: str, schedule: Schedule | None, tallies: dict[str, _Tally], peaks: dict[str, int] | None
) -> PolicyResult:
    endpoints = tuple(
        tallies[e].figures(e, None if peaks is None else peaks.get(e, 0)) for e in sorted(tallies)
    )
    total = _Tally()
    for tally in tallies.values():
        for name in ("deliveries", "first_failed", "delivered", "exhausted", "pending", "attempts"):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
        total.delays.update(tally.delays)
    busiest = max((f.peak_per_s for f in endpoints), default=0)
    return PolicyResult(label, schedule, endpoints, total.figures("all", busiest))
