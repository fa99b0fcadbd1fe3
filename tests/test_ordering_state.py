"""Ordering anomalies are kept at ingest (`ordering_anomaly`, console.store.ordering) and duplicates read through
their partial index: on seeded random histories written in batches split at random (shuffled, so an earlier
success arrives after a later one and deliveries finish out of order; re-ingested duplicates; manual replays;
deliveries acknowledged several times; prune) the report's figures equal the old SQL run over every stored
delivery (tests/ordering_oracle.py), and `verify_derived_state` finds the rows exact."""

from __future__ import annotations

import random

import pytest

from console.domain.filters import DeliveryFilter
from console.domain.outcomes import Outcome, Trigger
from console.domain.records import AttemptRecord, EventRecord
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.domain.where import Where
from console.store import Store, aggregates, ordering
from console.store.deliveries import D, E, matching_deliveries
from console.store.prune import prune
from console.store.recount import verify_derived_state
from console.store.writer import write_batch
from tests import ordering_oracle as oracle

START = 1_777_939_200_000  # 2026-05-05T00:00:00Z
TYPES = ("reward.redeemed", "reward.reversed")
ENDPOINTS = ("ep_a", "ep_b", "ep_c")


def history(seed: int, users: int = 12) -> tuple[list[AttemptRecord], dict[str, EventRecord]]:
    """Events of a few users (so they overtake one another), some without a user, delivered after delays from
    a millisecond to a day, some never, some acknowledged twice, some replayed by an operator; occurrence times
    repeat now and then (equal times do not overtake)."""
    rnd = random.Random(seed)
    attempts: list[AttemptRecord] = []
    events: dict[str, EventRecord] = {}
    for n in range(rnd.randint(150, 250)):
        event_id, event_type = f"evt_{seed}_{n}", rnd.choice(TYPES)
        at = START + rnd.randrange(8 * MS_PER_HOUR) // 1000 * 1000  # whole seconds: equal times happen
        user = None if rnd.random() < 0.1 else f"usr_{rnd.randrange(users)}"
        events[event_id] = EventRecord(event_id, event_type, at, b'{"n": %d}' % n, user_id=user)
        for endpoint_id in rnd.sample(ENDPOINTS, rnd.randint(1, 3)):
            tries = rnd.choice((1, 1, 1, 2, 3, 6))
            t = at + rnd.randrange(-90_000, 90_000)
            for number in range(1, tries + 1):
                last = number == tries
                outcome = Outcome.SUCCESS if last and rnd.random() < 0.8 else Outcome.HTTP_ERROR
                if not last and rnd.random() < 0.05:  # acknowledged, and retried anyway
                    outcome = Outcome.SUCCESS
                attempts.append(AttemptRecord(event_id, event_type, endpoint_id, number, t, outcome, 200))
                t += rnd.choice((0, 1, 450, 30_000, 600_000, 2 * MS_PER_HOUR, 26 * MS_PER_HOUR))
            if rnd.random() < 0.08:  # an operator's replay, sometimes before the last retry
                outcome = rnd.choice((Outcome.SUCCESS, Outcome.TIMEOUT))
                attempts.append(
                    AttemptRecord(
                        event_id,
                        event_type,
                        endpoint_id,
                        1,
                        t + rnd.randrange(-MS_PER_HOUR, MS_PER_HOUR),
                        outcome,
                        200,
                        trigger=Trigger.MANUAL,
                    )
                )
    return attempts, events


def ingest(store: Store, seed: int, in_order: bool = False) -> None:
    """Write the history in batches of random sizes (shuffled, or in attempt-time order), some written twice."""
    rnd = random.Random(seed + 1)
    attempts, events = history(seed)
    if in_order:
        attempts.sort(key=lambda a: a.attempted_at_ms)
    else:
        rnd.shuffle(attempts)
    sent: set[str] = set()
    start = 0
    while start < len(attempts):
        size = rnd.choice((1, 3, 17, 29, 80))
        batch = attempts[start : start + size]
        start += size
        offered = [events[a.event_id] for a in batch if a.event_id not in sent]
        sent.update(a.event_id for a in batch)
        write_batch(store, batch, offered)
        if rnd.random() < 0.2:  # re-ingest: duplicates change nothing
            write_batch(store, batch[: len(batch) // 2 + 1], offered)
        if rnd.random() < 0.2:  # a batch overlapping the last one: some attempts stored, some new
            more = attempts[start : start + 60]
            start += len(more)
            offered += [events[a.event_id] for a in more if a.event_id not in sent]
            sent.update(a.event_id for a in more)
            write_batch(store, batch[len(batch) // 2 :] + more, offered)


def direct_duplicates(store: Store, flt: DeliveryFilter) -> tuple[int, list[tuple[object, ...]]]:
    columns = (D.c.event_id, D.c.endpoint_id, D.c.event_type, D.c.successes, D.c.attempts, E.c.user_id)
    query = (
        matching_deliveries(store.dialect, flt, *columns, event=True)
        .where(D.c.successes > 1)
        .order_by(D.c.successes.desc(), D.c.event_id, D.c.endpoint_id)
    )
    with store.read() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    return len(rows), rows[:50]


FILTERS = (
    DeliveryFilter(),
    DeliveryFilter(since_ms=START + 2 * MS_PER_HOUR + 17 * MS_PER_MINUTE),
    DeliveryFilter(since_ms=START + 59 * MS_PER_MINUTE, until_ms=START + 5 * MS_PER_HOUR + 3 * MS_PER_MINUTE),
    DeliveryFilter(endpoint_ids=("ep_b", "ep_c"), event_types=TYPES[:1]),
    DeliveryFilter(until_ms=START + 4 * MS_PER_HOUR),
)


def assert_figures_agree(store: Store) -> int:
    """Every filter's figures equal the oracle's; the number of anomalies over everything."""
    for flt in FILTERS:
        for limit in (50, 3):
            assert aggregates.ordering_anomalies(store, flt, limit) == oracle.ordering_anomalies(
                store, flt, limit
            ), flt
        assert aggregates.duplicate_deliveries(store, flt) == direct_duplicates(store, flt), flt
    return oracle.ordering_anomalies(store, DeliveryFilter())[0]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_ordering_anomalies_equal_the_old_sql_over_everything(
    store: Store, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ordering, "RECOMPUTE_USERS", seed)  # groups recomputed a few users at a time
    ingest(store, seed, in_order=seed % 2 == 0)
    assert verify_derived_state(store) == []
    assert assert_figures_agree(store) > 20  # a history worth comparing
    assert direct_duplicates(store, DeliveryFilter())[0] > 3

    # Prune takes deliveries away (with the rows that named them as overtaken): the rest still agrees.
    for cutoff in (START + 2 * MS_PER_HOUR, START + 5 * MS_PER_HOUR):
        prune(store, cutoff, include_undelivered=True, batch=25)
        # (rollups keep the pruned history: only the rows of this table are compared)
        assert [p for p in verify_derived_state(store) if p.startswith("ordering_anomaly")] == []
        assert_figures_agree(store)


def test_a_log_read_out_of_order_recomputes_its_groups(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """When many stored successes follow a batch's earliest delivery, its groups are recomputed: still exact."""
    monkeypatch.setattr(ordering, "AFTER_LIMIT", 0)  # two per delivery of the batch
    ingest(store, 5)
    assert verify_derived_state(store) == []
    assert assert_figures_agree(store) > 20


def test_a_payload_filter_lists_the_matching_deliveries_anomalies(store: Store) -> None:
    ingest(store, 6)
    flt = DeliveryFilter(where=Where.parse("n < 100"))
    assert aggregates.ordering_anomalies(store, flt) == oracle.ordering_anomalies(store, flt)


def test_the_old_sql_still_answers_an_older_store(store: Store) -> None:
    ingest(store, 7)
    store.dialect.ordering_state = False  # as a version-8 store opened read-only
    flt = FILTERS[2]
    assert aggregates.ordering_anomalies(store, flt) == aggregates._ordering_within(store, flt, 50)


def test_an_upgraded_store_fills_the_rows_from_its_deliveries(store: Store) -> None:
    from console.store.schema import MIGRATIONS

    ingest(store, 8)
    kept = [aggregates.ordering_anomalies(store, flt) for flt in FILTERS]
    with store.write() as conn:  # as a version-9 store lacks them
        conn.exec_driver_sql("DROP TABLE ordering_anomaly")
        conn.exec_driver_sql("DROP INDEX ix_delivery_duplicates")
    with store.write() as conn:
        MIGRATIONS[9](conn)
    assert verify_derived_state(store) == []
    assert [aggregates.ordering_anomalies(store, flt) for flt in FILTERS] == kept


def test_verify_finds_a_row_changed_behind_the_writer(store: Store) -> None:
    ingest(store, 9)
    with store.write() as conn:
        conn.exec_driver_sql(
            "UPDATE ordering_anomaly SET overtook_delivered_at = overtook_delivered_at + 1 WHERE endpoint_id = 'ep_b'"
        )
    problems = verify_derived_state(store)
    assert problems and all(p.startswith("ordering_anomaly (") and "'ep_b'" in p for p in problems)


def test_verify_finds_a_lead_floor_above_a_stored_lead(store: Store) -> None:
    """The floor lets a batch skip reading most users' events: one above a stored lead would miss anomalies."""
    ingest(store, 10)
    with store.write() as conn:
        conn.exec_driver_sql(f"UPDATE meta SET value = '99999999' WHERE key = '{ordering.FLOOR_KEY}'")
    assert [p for p in verify_derived_state(store) if p.startswith("meta ")]
