"""`whatif` folds each page of deliveries into per-endpoint sums, so its memory is bounded by a page: on both
stores, the values it keeps between pages stay under a bound set by the endpoints and schedules (not by the
deliveries), its traced allocations do not grow with four times the deliveries (the old computation's do),
and on seeded random histories its figures equal the old exact computation (tests/whatif_oracle.py): every
candidate figure exactly, the observed delay percentiles within the histogram's resolution (2.47%)."""

from __future__ import annotations

import math
import random
import tracemalloc
from collections.abc import Callable

import pytest

from console.analytics.whatif import HEALTH_LOOKBACK_MS, WhatIfFold, read_health, run_whatif
from console.domain.outcomes import Outcome, Trigger
from console.domain.records import AttemptRecord, EventRecord
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.domain.whatif import PolicyFigures, Schedule, WhatIfResult, parse_schedule
from console.store import Store
from console.store.rollup import ttd_bucket_of
from console.store.whatif import endpoint_health, first_tried_pages, history_end_ms
from console.store.writer import write_batch
from tests import whatif_oracle as oracle

START = 1_777_939_200_000  # 2026-05-05T00:00:00Z
HOURS = 8
ENDPOINTS = ("ep_a", "ep_b", "ep_c")
RESOLUTION = math.sqrt(1.05) - 1  # 2.47%
SCHEDULES = tuple(parse_schedule(s) for s in ("1s,1s,1m", "30s,5m,1h", "2h,10h", "5s,5m,30m,2h,5h,10h,10h"))


def _write(store: Store, attempts: list[AttemptRecord], events: dict[str, EventRecord]) -> None:
    for start in range(0, len(attempts), 500):
        batch = attempts[start : start + 500]
        write_batch(store, batch, [events[e] for e in dict.fromkeys(a.event_id for a in batch)])


def random_history(store: Store, seed: int) -> None:
    """Deliveries whose outcomes follow each endpoint's outages (so health varies by minute), some in bursts
    of one second, retried after delays from a millisecond to hours, some never delivered, a few replayed."""
    rnd = random.Random(seed)
    outages = {
        e: [
            (s, s + rnd.randrange(5, 90) * MS_PER_MINUTE)
            for s in (START + rnd.randrange(HOURS * MS_PER_HOUR) for _ in range(rnd.randint(1, 4)))
        ]
        for e in ENDPOINTS
    }

    def outcome(endpoint_id: str, at: int) -> Outcome:
        down = any(s <= at < e for s, e in outages[endpoint_id])
        return Outcome.SUCCESS if rnd.random() < (0.15 if down else 0.9) else Outcome.HTTP_ERROR

    attempts: list[AttemptRecord] = []
    events: dict[str, EventRecord] = {}
    burst = START
    for n in range(rnd.randint(300, 500)):
        event_id = f"evt_{seed}_{n}"
        if rnd.random() < 0.2:  # in the same second as the last burst
            at = burst + rnd.randrange(1000)
        else:
            at = burst = START + rnd.randrange(HOURS * MS_PER_HOUR)
        events[event_id] = EventRecord(event_id, "reward.redeemed", at, b'{"n": %d}' % n)
        for endpoint_id in rnd.sample(ENDPOINTS, rnd.randint(1, 3)):
            t = at + rnd.randrange(2000)
            for number in range(1, rnd.choice((1, 2, 4, 6)) + 1):
                result = outcome(endpoint_id, t)
                attempts.append(
                    AttemptRecord(event_id, "reward.redeemed", endpoint_id, number, t, result, 200)
                )
                if result is Outcome.SUCCESS:
                    break
                t += rnd.choice((1, 450, 5_000, 60_000, 600_000, 2 * MS_PER_HOUR)) + rnd.randrange(5000)
            if rnd.random() < 0.05:
                attempts.append(
                    AttemptRecord(
                        event_id, "reward.redeemed", endpoint_id, 1, t + MS_PER_HOUR, Outcome.SUCCESS, 200,
                        trigger=Trigger.MANUAL,
                    )
                )  # fmt: skip
    _write(store, attempts, events)


def _figures(f: PolicyFigures) -> tuple[object, ...]:
    """Every figure but the added delay's percentiles."""
    return (f.endpoint_id, f.deliveries, f.first_failed, f.delivered, f.exhausted, f.pending, f.peak_per_s,
            f.attempts)  # fmt: skip


def _close(got: int | None, want: int | None) -> bool:
    if got is None or want is None:
        return got is want
    return abs(got - want) <= RESOLUTION * abs(want) + 1  # + 1: read as whole milliseconds


def assert_equal_to_the_oracle(got: WhatIfResult, want: WhatIfResult) -> None:
    assert (got.since_ms, got.until_ms, got.history_end_ms) == (
        want.since_ms,
        want.until_ms,
        want.history_end_ms,
    )
    assert [p.label for p in got.policies] == [p.label for p in want.policies]
    for mine, theirs in zip(got.policies, want.policies, strict=True):
        pairs = list(zip((*mine.endpoints, mine.total), (*theirs.endpoints, theirs.total), strict=True))
        assert [_figures(g) for g, _ in pairs] == [_figures(w) for _, w in pairs], mine.label
        for g, w in pairs:
            delays = ((g.delay_p50_ms, w.delay_p50_ms), (g.delay_p95_ms, w.delay_p95_ms))
            if mine.schedule is None:  # observed: from the histogram
                assert all(_close(a, b) for a, b in delays), (mine.label, g.endpoint_id, delays)
            else:  # a candidate's delays are its offsets: exact
                assert all(a == b for a, b in delays), (mine.label, g.endpoint_id, delays)


WINDOWS = (
    (START, START + HOURS * MS_PER_HOUR, ()),
    (START + MS_PER_HOUR + 17 * MS_PER_MINUTE + 5_123, START + 6 * MS_PER_HOUR, ()),
    (START + 2 * MS_PER_HOUR, START + HOURS * MS_PER_HOUR, ("ep_b", "ep_c")),
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_figures_equal_the_old_exact_computation(store: Store, seed: int) -> None:
    random_history(store, seed)
    for since, until, endpoint_ids in WINDOWS:
        want = oracle.run_whatif(store, SCHEDULES, since, until, endpoint_ids)
        assert want.policies[0].total.first_failed > 20  # failures worth replaying
        assert sum(p.total.pending for p in want.policies) > 0 and want.policies[1].total.peak_per_s > 1
        for page in (37, 1000):
            got = run_whatif(store, SCHEDULES, since, until, endpoint_ids, page=page)
            assert_equal_to_the_oracle(got, want)


def dense_history(store: Store, endpoint_ids: tuple[str, ...], deliveries: int, seed: int) -> None:
    """`deliveries` at each endpoint over an hour, each first tried in a millisecond of its own, half failing
    first and delivered after a delay of its own (1 s to 1 h) or never."""
    rnd = random.Random(seed)
    attempts: list[AttemptRecord] = []
    events: dict[str, EventRecord] = {}
    for endpoint_id in endpoint_ids:
        for n in range(deliveries):
            event_id = f"evt_{endpoint_id}_{n}"
            at = START + rnd.randrange(MS_PER_HOUR)
            events[event_id] = EventRecord(event_id, "reward.redeemed", at, b"{}")
            first = Outcome.SUCCESS if rnd.random() < 0.5 else Outcome.HTTP_ERROR
            attempts.append(AttemptRecord(event_id, "reward.redeemed", endpoint_id, 1, at, first, 200))
            if first is not Outcome.SUCCESS and rnd.random() < 0.8:
                later = at + rnd.randrange(1000, MS_PER_HOUR)
                attempts.append(
                    AttemptRecord(event_id, "reward.redeemed", endpoint_id, 2, later, Outcome.SUCCESS, 200)
                )
    _write(store, attempts, events)


BOUNDED = (parse_schedule("5s,30s"), parse_schedule("1s,2s,4s,8s,16s"))
PAGE = 50


def _held_bound(endpoints: int, schedules: tuple[Schedule, ...]) -> int:
    """What a fold may keep between pages: per endpoint, the observed delays' buckets (1 s to 1 h) and per
    schedule one count per offset and the open seconds (at most the schedule's span in seconds, plus its ends)."""
    buckets = ttd_bucket_of(MS_PER_HOUR) - ttd_bucket_of(1000) + 1
    per_schedule = sum(len(s.delays_ms) + sum(s.delays_ms) // 1000 + 2 for s in schedules)
    return endpoints * (buckets + per_schedule)


def test_a_fold_keeps_a_page_and_sums_bounded_by_endpoints_and_schedules(store: Store) -> None:
    endpoint_ids = ("ep_x", "ep_y")
    dense_history(store, endpoint_ids, 1500, seed=5)
    since, until = START, START + MS_PER_HOUR
    end_ms = history_end_ms(store)
    assert end_ms is not None
    health_since, health_until = since - HEALTH_LOOKBACK_MS, end_ms
    health = read_health(endpoint_health(store, health_since, health_until, ()), health_since, health_until)
    fold = WhatIfFold(BOUNDED, health, end_ms)
    bound = _held_bound(len(endpoint_ids), BOUNDED)
    assert bound < 1500 // 2  # the history has more distinct seconds and delays than the bound
    pages, most = 0, 0
    for rows in first_tried_pages(store, since, until, (), PAGE):
        assert len(rows) <= PAGE
        fold.add_page(rows)
        pages, most = pages + 1, max(most, fold.held())
    assert pages >= 3000 // PAGE
    assert 0 < most <= bound, (most, bound)
    result = fold.result(since, until, {}, {})
    assert result.policies[0].total.deliveries == 3000


Run = Callable[[Store, tuple[Schedule, ...], int, int, tuple[str, ...]], WhatIfResult]


def _traced_peak(run: Run, store: Store, endpoint_ids: tuple[str, ...]) -> int:
    """The most memory Python allocations held during one run (counted by tracemalloc, not timed)."""
    run(store, BOUNDED, START, START + MS_PER_HOUR, endpoint_ids)  # warm: caches, compiled statements
    tracemalloc.start()
    try:
        run(store, BOUNDED, START, START + MS_PER_HOUR, endpoint_ids)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_four_times_the_deliveries_take_no_more_memory(store: Store) -> None:
    """The same hour with 1,000 and 4,000 deliveries at an endpoint, read in pages of 50: the fold's traced peak
    stays within a page's worth; the old computation's grows with the deliveries (so the measure can tell)."""
    dense_history(store, ("ep_small",), 1000, seed=6)
    dense_history(store, ("ep_large",), 4000, seed=7)

    def fold(
        store: Store, schedules: tuple[Schedule, ...], since: int, until: int, ids: tuple[str, ...]
    ) -> WhatIfResult:
        return run_whatif(store, schedules, since, until, ids, page=PAGE)

    def old(
        store: Store, schedules: tuple[Schedule, ...], since: int, until: int, ids: tuple[str, ...]
    ) -> WhatIfResult:
        return oracle.run_whatif(store, schedules, since, until, ids, page=PAGE)

    small, large = _traced_peak(fold, store, ("ep_small",)), _traced_peak(fold, store, ("ep_large",))
    old_small, old_large = _traced_peak(old, store, ("ep_small",)), _traced_peak(old, store, ("ep_large",))
    assert old_large - old_small > 200_000, (old_small, old_large)  # the old one keeps values per delivery
    assert large - small < 64_000, (small, large)  # a page of 50 and the buckets the larger one fills
