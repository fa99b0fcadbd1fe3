"""What-if retry policies: replay the recorded failure history against candidate schedules (docs/whatif.md).

Each endpoint's health is known per minute from the rollups: up when more than half of that minute's attempts
succeeded, down otherwise; a minute without attempts keeps the state of the last minute that had some (up
before the first). The deliveries first tried (by the dispatcher) in the window keep their real first attempt,
time and outcome; a candidate's retries then succeed exactly when they land in an up minute. Retries that would
land after the end of the recorded history are `pending`.

Memory is bounded by a page: the deliveries are read in pages, and each page is folded into per-endpoint sums
before the next is read (`WhatIfFold`). Between pages it keeps, per endpoint and policy, counts, the added
delays (a candidate's: one count per offset of its schedule; observed: histogram buckets) and the attempts of
the seconds a later page can still add to (those within the schedule's span of the last delivery read), and
per endpoint its health, one byte per minute of the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from console.analytics.whatif_delays import DelayHistogram, ExactDelays
from console.domain.times import MS_PER_DAY, MS_PER_MINUTE
from console.domain.whatif import OBSERVED, PolicyFigures, PolicyResult, Schedule, WhatIfResult
from console.store.engine import Store
from console.store.whatif import (
    endpoint_health,
    first_tried_pages,
    history_end_ms,
    observed_attempts,
    observed_peaks,
)

HEALTH_LOOKBACK_MS = MS_PER_DAY  # the state carried into the window comes from at most a day before it
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]
Delivery = tuple[str, int, bool, int | None]  # endpoint_id, first_attempt_at, first attempt ok, delivered_at


class Health:
    """Up/down for one endpoint per minute from minute `start`, carried forward over minutes without attempts
    (one byte a minute); up before the first minute with attempts, the last state after the end."""

    def __init__(self, start: int, length: int, minutes: Sequence[int], up: Sequence[bool]) -> None:
        self.start = start
        if not minutes:
            self.up: BOOL = np.ones(0, dtype=np.bool_)
            return
        latest = np.full(length, -1, dtype=np.int64)  # the last minute with attempts at or before each
        latest[np.asarray(minutes, dtype=np.int64) - start] = np.arange(len(minutes), dtype=np.int64)
        latest = np.maximum.accumulate(latest)
        states = np.asarray(up, dtype=np.bool_)
        self.up = np.where(latest >= 0, states[np.clip(latest, 0, None)], True)

    def up_at(self, at_ms: I64) -> BOOL:
        if not len(self.up):
            return np.ones(len(at_ms), dtype=np.bool_)
        index = at_ms // MS_PER_MINUTE - self.start
        return np.where(index >= 0, self.up[np.clip(index, 0, len(self.up) - 1)], True)


def read_health(rows: Iterable[tuple[str, int, int, int]], since_ms: int, until_ms: int) -> dict[str, Health]:
    """Each endpoint's Health over the minutes of [since, until) from its (endpoint_id, minute, attempts,
    successes) rows, grouped by endpoint and in time order; one endpoint's rows at a time are held."""
    start, end = since_ms // MS_PER_MINUTE, -(-until_ms // MS_PER_MINUTE)
    length = max(end - start, 0)
    health: dict[str, Health] = {}
    current: str | None = None
    minutes: list[int] = []
    up: list[bool] = []
    for endpoint_id, minute, attempts, successes in rows:
        if endpoint_id != current:
            if current is not None:
                health[current] = Health(start, length, minutes, up)
            current, minutes, up = endpoint_id, [], []
        minutes.append(minute)
        up.append(2 * successes > attempts)
    if current is not None:
        health[current] = Health(start, length, minutes, up)
    return health


ALWAYS_UP = Health(0, 0, (), ())  # an endpoint without any attempt in the rollups


class PerSecond:
    """The most attempts in one second, folded page by page: the seconds a later page can still add to are kept
    with their counts (sorted); earlier ones are final and leave only the running maximum."""

    def __init__(self) -> None:
        self.seconds: I64 = np.zeros(0, dtype=np.int64)
        self.counts: I64 = np.zeros(0, dtype=np.int64)
        self.settled = 0

    def add(self, at_ms: I64) -> None:
        if not len(at_ms):
            return
        seconds = np.concatenate((self.seconds, at_ms // 1000))
        weights = np.concatenate((self.counts, np.ones(len(at_ms), dtype=np.int64)))
        self.seconds, inverse = np.unique(seconds, return_inverse=True)
        self.counts = np.bincount(inverse, weights=weights).astype(np.int64)

    def settle(self, before_s: int) -> None:
        """Fold the seconds before `before_s` (no later attempt can fall in them) into the maximum."""
        final = int(np.searchsorted(self.seconds, before_s))
        if final:
            self.settled = max(self.settled, int(self.counts[:final].max()))
            self.seconds, self.counts = self.seconds[final:], self.counts[final:]

    @property
    def peak(self) -> int:
        return max(self.settled, int(self.counts.max()) if len(self.counts) else 0)


@dataclass
class _Tally:
    """Running sums for one policy at one endpoint."""

    delays: ExactDelays | DelayHistogram
    deliveries: int = 0
    first_failed: int = 0
    delivered: int = 0
    exhausted: int = 0
    pending: int = 0
    attempts: int = 0
    per_second: PerSecond = field(default_factory=PerSecond)

    def figures(self, endpoint_id: str, peak: int | None = None) -> PolicyFigures:
        return PolicyFigures(
            endpoint_id=endpoint_id,
            deliveries=self.deliveries,
            first_failed=self.first_failed,
            delivered=self.delivered,
            exhausted=self.exhausted,
            pending=self.pending,
            delay_p50_ms=self.delays.percentile(0.50),
            delay_p95_ms=self.delays.percentile(0.95),
            peak_per_s=peak if peak is not None else self.per_second.peak,
            attempts=self.attempts,
        )

    def held(self) -> int:
        """The values kept between pages: delays (or their buckets) and the open seconds."""
        return self.delays.held() + len(self.per_second.seconds)


def _simulate(
    tally: _Tally, schedule: Schedule, first_at: I64, first_ok: BOOL, health: Health, end_ms: int
) -> None:
    """Add one endpoint's page of deliveries, retried on `schedule`, to `tally`."""
    assert isinstance(tally.delays, ExactDelays)
    tally.deliveries += len(first_at)
    tally.first_failed += int((~first_ok).sum())
    tally.delivered += int(first_ok.sum())
    made = [first_at]
    waiting = first_at[~first_ok]
    for offset in schedule.offsets_ms:
        if not len(waiting):
            break
        at = waiting + offset
        late = at >= end_ms
        tally.pending += int(late.sum())
        at, waiting = at[~late], waiting[~late]
        made.append(at)
        up = health.up_at(at)
        delivered = int(up.sum())
        if delivered:
            tally.delivered += delivered
            tally.delays.add(offset, delivered)
        waiting = waiting[~up]
    tally.exhausted += len(waiting)
    attempts = np.concatenate(made)
    tally.attempts += len(attempts)
    tally.per_second.add(attempts)


def _observe(tally: _Tally, first_at: I64, first_ok: BOOL, delivered_at: I64) -> None:
    """Add one endpoint's page of deliveries, as they really went, to `tally` (delivered_at -1: undelivered)."""
    assert isinstance(tally.delays, DelayHistogram)
    delivered = delivered_at >= 0
    tally.deliveries += len(first_at)
    tally.first_failed += int((~first_ok).sum())
    tally.delivered += int(delivered.sum())
    tally.exhausted += int((~delivered).sum())
    retried = ~first_ok & delivered
    if retried.any():
        tally.delays.add_values(delivered_at[retried] - first_at[retried])


class WhatIfFold:
    """The figures of the observed history and of each schedule, folded from pages of deliveries (oldest first):
    nothing of a page is kept once `add_page` returns, only per-endpoint sums (`held` counts them)."""

    def __init__(self, schedules: Sequence[Schedule], health: dict[str, Health], end_ms: int) -> None:
        self.schedules = tuple(schedules)
        self.health = health
        self.end_ms = end_ms
        self.observed: dict[str, _Tally] = {}
        self.candidates: list[dict[str, _Tally]] = [{} for _ in self.schedules]

    def add_page(self, rows: Sequence[Delivery]) -> None:
        if not rows:
            return
        endpoints, first_ats, oks, delivered_ats = zip(*rows, strict=True)
        codes: dict[str, int] = {}
        code = np.fromiter(
            (codes.setdefault(e, len(codes)) for e in endpoints), dtype=np.int64, count=len(rows)
        )
        first_at = np.array(first_ats, dtype=np.int64)
        first_ok = np.array(oks, dtype=np.bool_)
        delivered_at = np.fromiter(
            (-1 if at is None else at for at in delivered_ats), dtype=np.int64, count=len(rows)
        )
        order = np.argsort(code, kind="stable")
        bounds = np.searchsorted(code[order], np.arange(len(codes) + 1)).tolist()
        for endpoint_id, number in codes.items():
            mine = order[bounds[number] : bounds[number + 1]]
            at, ok = first_at[mine], first_ok[mine]
            observed = self.observed.get(endpoint_id)
            if observed is None:
                observed = self.observed[endpoint_id] = _Tally(DelayHistogram())
            _observe(observed, at, ok, delivered_at[mine])
            health = self.health.get(endpoint_id, ALWAYS_UP)
            for schedule, tallies in zip(self.schedules, self.candidates, strict=True):
                tally = tallies.get(endpoint_id)
                if tally is None:
                    tally = tallies[endpoint_id] = _Tally(ExactDelays())
                _simulate(tally, schedule, at, ok, health, self.end_ms)
        # pages come in first_attempt_at order: no later attempt falls before this page's last first attempt
        frontier = int(first_at.max()) // 1000
        for tallies in self.candidates:
            for tally in tallies.values():
                tally.per_second.settle(frontier)

    def held(self) -> int:
        """The values kept between pages, over every endpoint and policy."""
        return sum(t.held() for tallies in (self.observed, *self.candidates) for t in tallies.values())

    def result(
        self,
        since_ms: int,
        until_ms: int,
        peaks: dict[str, int],
        real_attempts: dict[str, int],
    ) -> WhatIfResult:
        """The figures, with the observed peaks and attempts read from the recorded attempts."""
        for endpoint_id, tally in self.observed.items():
            tally.attempts = real_attempts.get(endpoint_id, 0)
        policies = [_result(OBSERVED, None, self.observed, peaks, DelayHistogram())]
        policies += [
            _result(s.text, s, tallies, None, ExactDelays())
            for s, tallies in zip(self.schedules, self.candidates, strict=True)
        ]
        return WhatIfResult(since_ms, until_ms, self.end_ms, tuple(policies))


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
    health_since, health_until = since_ms - HEALTH_LOOKBACK_MS, min(end_ms, until_ms + reach)
    health = read_health(
        endpoint_health(store, health_since, health_until, endpoint_ids), health_since, health_until
    )
    fold = WhatIfFold(schedules, health, end_ms)
    for rows in first_tried_pages(store, since_ms, until_ms, endpoint_ids, page):
        fold.add_page(rows)
    peaks = observed_peaks(store, since_ms, until_ms, endpoint_ids)
    real_attempts = observed_attempts(store, since_ms, until_ms, endpoint_ids)
    return fold.result(since_ms, until_ms, peaks, real_attempts)


def _result(
    label: str,
    schedule: Schedule | None,
    tallies: dict[str, _Tally],
    peaks: dict[str, int] | None,
    delays: ExactDelays | DelayHistogram,
) -> PolicyResult:
    endpoints = tuple(
        tallies[e].figures(e, None if peaks is None else peaks.get(e, 0)) for e in sorted(tallies)
    )
    total = _Tally(delays)
    for tally in tallies.values():
        for name in ("deliveries", "first_failed", "delivered", "exhausted", "pending", "attempts"):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
        total.delays.merge(tally.delays)  # type: ignore[arg-type]  # the same kind within a policy
    busiest = max((f.peak_per_s for f in endpoints), default=0)
    return PolicyResult(label, schedule, endpoints, total.figures("all", busiest))
