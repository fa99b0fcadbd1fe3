"""Retries until success and time to delivery read the rollups' delivery histograms (`retries_hist`,
`ttd_hist`): on seeded random histories (shuffled batches so successes arrive before earlier failures and
earlier first attempts arrive late, re-ingested duplicates, manual replays, several successes of one delivery,
prune) they equal a direct computation over the deliveries (tests/delivery_hists_oracle.py): retries exactly,
time to delivery within the histogram's resolution (2.47%; 0 ms and values under 20 ms exactly), and
`verify_derived_state` finds the histograms exact."""

from __future__ import annotations

import math
import random

import pytest

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.outcomes import Outcome, Trigger
from console.domain.records import AttemptRecord, EventRecord
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store import Store, aggregates
from console.store.delivery_hists import ttd_value
from console.store.prune import prune
from console.store.recount import verify_derived_state
from console.store.rollup import ttd_bucket_of
from console.store.writer import write_batch
from tests import delivery_hists_oracle as oracle

START = 1_777_939_200_000  # 2026-05-05T00:00:00Z
TYPES = ("reward.redeemed", "reward.reversed")
ENDPOINTS = ("ep_a", "ep_b", "ep_c")
RESOLUTION = math.sqrt(1.05) - 1  # 2.47%


def history(seed: int) -> tuple[list[AttemptRecord], dict[str, EventRecord]]:
    """Deliveries with retries after delays from a millisecond to hours, some never delivered, some
    acknowledged twice, some replayed by an operator."""
    rnd = random.Random(seed)
    attempts: list[AttemptRecord] = []
    events: dict[str, EventRecord] = {}
    for n in range(rnd.randint(150, 250)):
        event_id, event_type = f"evt_{seed}_{n}", rnd.choice(TYPES)
        at = START + rnd.randrange(8 * MS_PER_HOUR)
        events[event_id] = EventRecord(event_id, event_type, at, b'{"n": %d}' % n)
        for endpoint_id in rnd.sample(ENDPOINTS, rnd.randint(1, 3)):
            tries = rnd.choice((1, 1, 1, 2, 3, 6))
            t = at + rnd.randrange(-90_000, 90_000)  # may cross a minute and an hour
            for number in range(1, tries + 1):
                last = number == tries
                outcome = Outcome.SUCCESS if last and rnd.random() < 0.8 else Outcome.HTTP_ERROR
                if not last and rnd.random() < 0.05:  # acknowledged, and retried anyway
                    outcome = Outcome.SUCCESS
                attempts.append(AttemptRecord(event_id, event_type, endpoint_id, number, t, outcome, 200))
                t += rnd.choice(
                    (1, 7, 19, 450, 30_000, 600_000, 2 * MS_PER_HOUR, 26 * MS_PER_HOUR)
                ) + rnd.randrange(50)
            if rnd.random() < 0.08:  # an operator's replay
                outcome = rnd.choice((Outcome.SUCCESS, Outcome.TIMEOUT))
                attempts.append(
                    AttemptRecord(
                        event_id,
                        event_type,
                        endpoint_id,
                        1,
                        t + MS_PER_HOUR,
                        outcome,
                        200,
                        trigger=Trigger.MANUAL,
                    )
                )
    return attempts, events


def ingest(store: Store, seed: int) -> None:
    """Write the history in shuffled batches, some written twice."""
    rnd = random.Random(seed + 1)
    attempts, events = history(seed)
    rnd.shuffle(attempts)
    sent: set[str] = set()
    for start in range(0, len(attempts), 29):
        batch = attempts[start : start + 29]
        offered = [events[a.event_id] for a in batch if a.event_id not in sent]
        sent.update(a.event_id for a in batch)
        write_batch(store, batch, offered)
        if rnd.random() < 0.2:  # re-ingest: duplicates change nothing
            write_batch(store, batch[: len(batch) // 2], offered)


def close(got: float, want: float) -> bool:
    return abs(got - want) <= RESOLUTION * want + 1e-9


def assert_figures_agree(store: Store, flt: DeliveryFilter) -> None:
    assert aggregates.retries_until_success(store, flt) == oracle.retries_until_success(store, flt), flt
    exact = oracle.delivery_times(store, flt)
    got = {t.endpoint_id: t for t in aggregates.delivery_times(store, flt)}
    assert sorted(got) == sorted(exact), flt
    for endpoint_id, (n, p50, p95, top) in exact.items():
        t = got[endpoint_id]
        assert t.delivered == n, (flt, endpoint_id)
        for have, want in ((t.p50_ms, p50), (t.p95_ms, p95), (t.max_ms, top)):
            assert close(have, want), (flt, endpoint_id, have, want)


FILTERS = (
    DeliveryFilter(),
    DeliveryFilter(since_ms=START + 2 * MS_PER_HOUR + 17 * MS_PER_MINUTE),  # minute and hour edges
    DeliveryFilter(since_ms=START + 59 * MS_PER_MINUTE, until_ms=START + 5 * MS_PER_HOUR + 3 * MS_PER_MINUTE),
    DeliveryFilter(endpoint_ids=("ep_b", "ep_c"), event_types=TYPES[:1]),
    DeliveryFilter(state=DeliveryState.DELIVERED, until_ms=START + 4 * MS_PER_HOUR),
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_delivery_hists_equal_a_direct_computation(store: Store, seed: int) -> None:
    ingest(store, seed)
    assert verify_derived_state(store) == []
    everything = oracle.retries_until_success(store, DeliveryFilter())
    assert len(everything) >= 4 and sum(n for _, n in everything) > 100  # a history worth comparing
    for flt in FILTERS:
        assert_figures_agree(store, flt)
    # Filters the rollups do not keep read the deliveries (the old SQL), exact.
    for flt in (DeliveryFilter(event_ids=("evt_1_3", "evt_2_3")), DeliveryFilter(state=DeliveryState.FAILED)):
        want = oracle.delivery_times(store, flt)
        assert {
            t.endpoint_id: (t.delivered, t.p50_ms, t.p95_ms, t.max_ms)
            for t in aggregates.delivery_times(store, flt)
        } == want
        assert aggregates.retries_until_success(store, flt) == oracle.retries_until_success(store, flt)

    # Prune takes deliveries away; rollups (histograms with them) keep their history until their own cutoff,
    # then the window after it still agrees.
    before = aggregates.retries_until_success(store, DeliveryFilter())
    cutoff = START + 3 * MS_PER_HOUR
    prune(store, cutoff, include_undelivered=True, batch=25)
    assert aggregates.retries_until_success(store, DeliveryFilter()) == before
    prune(store, cutoff, include_undelivered=True, batch=25, rollups_cutoff_ms=cutoff)
    for flt in (DeliveryFilter(since_ms=cutoff), DeliveryFilter(since_ms=cutoff, endpoint_ids=("ep_a",))):
        assert_figures_agree(store, flt)


def test_the_old_sql_still_answers_an_older_store_exactly(store: Store) -> None:
    ingest(store, 4)
    store.dialect.delivery_hists = False  # as a version-7 store opened read-only
    for flt in FILTERS:
        want = oracle.delivery_times(store, flt)
        got = {
            t.endpoint_id: (t.delivered, t.p50_ms, t.p95_ms, t.max_ms)
            for t in aggregates.delivery_times(store, flt)
        }
        assert got == want
        assert aggregates.retries_until_success(store, flt) == oracle.retries_until_success(store, flt)


def test_an_upgraded_store_fills_the_histograms_from_its_deliveries(store: Store) -> None:
    from console.store.schema import MIGRATIONS

    ingest(store, 5)
    kept = [aggregates.delivery_times(store, flt) for flt in FILTERS]
    with store.write() as conn:  # as a version-7 store lacks them
        conn.exec_driver_sql("UPDATE rollup_minute SET retries_hist = NULL, ttd_hist = NULL")
        conn.exec_driver_sql("UPDATE rollup_hour SET retries_hist = NULL, ttd_hist = NULL")
    assert any("rollup_minute" in p for p in verify_derived_state(store))
    with store.write() as conn:
        MIGRATIONS[7](conn)
    assert verify_derived_state(store) == []
    assert [aggregates.delivery_times(store, flt) for flt in FILTERS] == kept


def test_verify_finds_a_histogram_changed_behind_the_writer(store: Store) -> None:
    ingest(store, 6)
    with store.write() as conn:
        conn.exec_driver_sql(
            "UPDATE rollup_hour SET retries_hist = '{\"9\": 1}' WHERE endpoint_id = 'ep_b' AND delivered > 0"
        )
    problems = verify_derived_state(store)
    assert problems and all(p.startswith("rollup_hour (") and "'ep_b'" in p for p in problems)


def test_a_time_reads_within_its_buckets_resolution() -> None:
    """Every whole millisecond up to 30 days reads within 2.47% of itself; 0 and those under 20 ms exactly."""
    for ms in [*range(0, 100_000), *range(100_000, 30 * 86_400_000, 99_991)]:
        value = ttd_value(ttd_bucket_of(ms))
        assert close(value, ms), ms
        if ms < 20:
            assert value == ms


def test_a_reading_command_on_an_older_store_reads_the_deliveries(store: Store, store_url: str) -> None:
    from console.store import open_store

    ingest(store, 7)
    with store.write() as conn:  # as a version-7 store reads (no histograms)
        conn.exec_driver_sql("UPDATE rollup_minute SET retries_hist = NULL, ttd_hist = NULL")
        conn.exec_driver_sql("UPDATE rollup_hour SET retries_hist = NULL, ttd_hist = NULL")
        conn.exec_driver_sql("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    older = open_store(store_url, read_only=True)
    try:
        assert older.dialect.delivery_hists is False
        flt = DeliveryFilter()
        assert aggregates.retries_until_success(older, flt) == oracle.retries_until_success(older, flt)
        assert {
            t.endpoint_id: (t.delivered, t.p50_ms, t.p95_ms, t.max_ms)
            for t in aggregates.delivery_times(older, flt)
        } == oracle.delivery_times(older, flt)
    finally:
        older.close()
