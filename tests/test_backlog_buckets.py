"""The report's backlog reads bucket counts kept at ingest (the rollups' `deliveries`, `closed_minute` and
`closed_hour`) and incident reach reads the failed-attempts index: on seeded random histories (shuffled batches
so successes arrive before earlier failures and earlier first attempts arrive late, re-ingested duplicates,
manual replays, several successes of one delivery, resolutions and reopenings, prune of delivered and of
undelivered deliveries, the rollups' horizon) both equal the old direct computation over the deliveries and
attempts (tests/backlog_oracle.py), `verify_derived_state` finds the closed counts exact, and the upgrade to
version 9 fills them as ingest kept them."""

from __future__ import annotations

import random

import pytest

from console.analytics.deliveries import backlog_series
from console.domain.filters import DeliveryFilter
from console.domain.outcomes import Outcome, Trigger
from console.domain.records import AttemptRecord, EventRecord
from console.domain.resolutions import ResolutionAction
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.domain.where import Where
from console.store import Store, aggregates, backlog_buckets, resolutions
from console.store.deliveries import page_deliveries
from console.store.prune import prune
from console.store.recount import stored_state, verify_derived_state
from console.store.writer import write_batch
from tests import backlog_oracle as oracle

START = 1_777_939_200_000  # 2026-05-05T00:00:00Z
TYPES = ("reward.redeemed", "reward.reversed")
ENDPOINTS = ("ep_a", "ep_b", "ep_c")
M, H = MS_PER_MINUTE, MS_PER_HOUR


def history(seed: int) -> tuple[list[AttemptRecord], dict[str, EventRecord]]:
    """Deliveries with retries after delays from a millisecond to a day, some never delivered, some acknowledged
    twice, some replayed by an operator (delivered or not)."""
    rnd = random.Random(seed)
    attempts: list[AttemptRecord] = []
    events: dict[str, EventRecord] = {}
    for n in range(rnd.randint(150, 250)):
        event_id, event_type = f"evt_{seed}_{n}", rnd.choice(TYPES)
        at = START + rnd.randrange(8 * H)
        events[event_id] = EventRecord(event_id, event_type, at, b'{"n": %d}' % (n % 7))
        for endpoint_id in rnd.sample(ENDPOINTS, rnd.randint(1, 3)):
            tries = rnd.choice((1, 1, 1, 2, 3, 6))
            t = at + rnd.randrange(-90_000, 90_000)  # may cross a minute and an hour
            for number in range(1, tries + 1):
                last = number == tries
                outcome = Outcome.SUCCESS if last and rnd.random() < 0.75 else Outcome.HTTP_ERROR
                if not last and rnd.random() < 0.05:  # acknowledged, and retried anyway
                    outcome = Outcome.SUCCESS
                attempts.append(AttemptRecord(event_id, event_type, endpoint_id, number, t, outcome, 200))
                t += rnd.choice((1, 450, 30_000, 600_000, 2 * H, 26 * H)) + rnd.randrange(50)
            if rnd.random() < 0.1:  # an operator's replay
                outcome = rnd.choice((Outcome.SUCCESS, Outcome.TIMEOUT))
                attempts.append(
                    AttemptRecord(
                        event_id, event_type, endpoint_id, 1, t + H, outcome, 200, trigger=Trigger.MANUAL
                    )
                )
    return attempts, events


def ingest(store: Store, seed: int) -> None:
    """Write the history in shuffled batches, some twice; resolve and reopen some outstanding deliveries
    midway (some of them are delivered by a later batch)."""
    rnd = random.Random(seed + 1)
    attempts, events = history(seed)
    rnd.shuffle(attempts)
    sent: set[str] = set()
    batches = [attempts[start : start + 29] for start in range(0, len(attempts), 29)]
    for i, batch in enumerate(batches):
        offered = [events[a.event_id] for a in batch if a.event_id not in sent]
        sent.update(a.event_id for a in batch)
        write_batch(store, batch, offered)
        if rnd.random() < 0.2:  # re-ingest: duplicates change nothing
            write_batch(store, batch[: len(batch) // 2], offered)
        if i == len(batches) * 2 // 3:
            resolve_some(store, rnd)
    resolve_some(store, rnd)


def resolve_some(store: Store, rnd: random.Random) -> None:
    """Resolve a few outstanding deliveries at times across the history, and reopen some of them."""
    open_now = [
        (r.event_id, r.endpoint_id)
        for r in page_deliveries(store, DeliveryFilter(), limit=10_000)
        if r.delivered_at_ms is None
    ]
    chosen = rnd.sample(open_now, min(len(open_now), 12))
    for k, pair in enumerate(chosen):
        at = START + rnd.randrange(-H, 10 * H)
        resolutions.change(
            store,
            DeliveryFilter(),
            ResolutionAction.RESOLVE,
            reason="gone",
            operator="t",
            now_ms=at,
            pairs=[pair],
        )
        if k % 4 == 0:
            resolutions.change(
                store,
                DeliveryFilter(),
                ResolutionAction.REOPEN,
                reason="back",
                operator="t",
                now_ms=at + 1,
                pairs=[pair],
            )


# (since, until, bucket): minute-grain windows, hour-grain windows, and one the buckets cannot answer.
WINDOWS = (
    (START + 2 * H + 17 * M, START + 5 * H + 43 * M, M),
    (START + 2 * H + 17 * M, START + 5 * H + 42 * M, 15 * M),
    (START - 3 * M, START + 30 * H, 5 * M),
    (START + 2 * H, START + 9 * H, H),
    (START - H, START + 36 * H, 6 * H),
    (START + 7 * H + 11 * M, START + 7 * H + 12 * M, M),
    (START + H + 12_345, START + 4 * H + 12_345, 15 * M),  # not whole minutes: the old SQL
)
FILTERS = (
    DeliveryFilter(),
    DeliveryFilter(endpoint_ids=("ep_b", "ep_c")),
    DeliveryFilter(event_types=TYPES[:1]),
    DeliveryFilter(endpoint_ids=("ep_a",), event_types=TYPES[1:], sources=("svix:app_1",)),
)


def assert_backlog_agrees(
    store: Store, flt: DeliveryFilter, since: int, until: int, bucket: int, exact: bool = True
) -> None:
    """The same backlog: open at the start, and per bucket what entered less what left (after a prune the
    rollups still count the pruned deliveries entering and leaving in the bucket of their first attempt, so only
    with `exact` are opened and closed compared apart)."""
    got = aggregates.backlog_counts(store, flt, since, until, bucket)
    want = oracle.backlog_counts(store, flt, since, until, bucket)
    n = -(-(until - since) // bucket)
    context = (flt, since - START, until - START, bucket)

    def inside(counts: dict[int, int]) -> dict[int, int]:
        return {b: v for b, v in counts.items() if 0 <= b < n and v}

    def net(counts: aggregates.BacklogCounts) -> dict[int, int]:
        changes = {b: counts.opened.get(b, 0) - counts.closed.get(b, 0) for b in range(n)}
        return {b: v for b, v in changes.items() if v}

    assert got.at_start == want.at_start, context
    assert net(got) == net(want), context
    if exact:
        assert inside(got.opened) == inside(want.opened), context
        assert inside(got.closed) == inside(want.closed), context
    assert backlog_series(got, since, until, bucket).equals(backlog_series(want, since, until, bucket)), (
        context
    )


def assert_everything_agrees(
    store: Store, windows: tuple[tuple[int, int, int], ...] = WINDOWS, exact: bool = True
) -> None:
    for since, until, bucket in windows:
        for flt in FILTERS:
            assert_backlog_agrees(store, flt, since, until, bucket, exact)


def assert_reach_agrees(store: Store, rnd: random.Random) -> None:
    where = Where.parse("n >= 3")
    for _ in range(5):
        start = START + rnd.randrange(-H, 30 * H) // (5 * M) * (5 * M)
        end = start + rnd.choice((5 * M, 30 * M, H, 6 * H))
        for endpoint_id in (*ENDPOINTS, "ep_none"):
            for scope in ((None, ()), (where, TYPES[1:])):
                got = aggregates.incident_reach(store, endpoint_id, start, end, *scope)
                want = oracle.incident_reach(store, endpoint_id, start, end, *scope)
                assert (got.events_affected, got.still_undelivered) == want, (endpoint_id, start, end, scope)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_backlog_and_reach_equal_a_direct_computation(store: Store, seed: int) -> None:
    ingest(store, seed)
    assert verify_derived_state(store) == []
    for since, until, bucket in WINDOWS[:-1]:
        assert backlog_buckets.answers(store.dialect.closed_counts, FILTERS[3], since, until, bucket)
    assert not backlog_buckets.answers(store.dialect.closed_counts, FILTERS[0], *WINDOWS[-1])
    counts = oracle.backlog_counts(store, DeliveryFilter(), *WINDOWS[0])
    assert counts.at_start > 5 and sum(counts.closed.values()) > 50  # a history worth comparing
    with store.read() as conn:
        resolved = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM delivery WHERE resolved_at IS NOT NULL"
        ).scalar()
    assert resolved
    assert_everything_agrees(store)
    assert_reach_agrees(store, random.Random(seed))

    # A payload filter reads the deliveries (the old SQL).
    where = DeliveryFilter(where=Where.parse("n >= 3"))
    assert not backlog_buckets.answers(store.dialect.closed_counts, where, *WINDOWS[0])
    assert_backlog_agrees(store, where, *WINDOWS[0])

    # Prune takes delivered deliveries away, then undelivered ones: the backlog still equals the old SQL's over
    # the deliveries left (rollups keep their history; the closed counts follow what prune removes).
    prune(store, START + 3 * H, batch=25)
    assert_everything_agrees(store, WINDOWS[:4], exact=False)
    prune(store, START + 5 * H, include_undelivered=True, batch=25)
    assert_everything_agrees(store, WINDOWS[1:5], exact=False)
    assert_reach_agrees(store, random.Random(seed + 7))
    # The rollups' horizon removes bucket rows older than it: windows from it on still agree.
    horizon = START + 6 * H
    prune(store, START + 5 * H, rollups_cutoff_ms=horizon)
    assert_everything_agrees(
        store, ((horizon + 7 * M, horizon + 4 * H, 5 * M), (horizon, horizon + 30 * H, H)), exact=False
    )


def test_the_upgrade_fills_the_closed_counts_as_ingest_kept_them(store: Store) -> None:
    """Version 9 fills the tables from the deliveries and the rollups: deliveries pruned before it (delivered or
    not) are found from what the rollups count beyond the deliveries left."""
    from console.store.schema import MIGRATIONS

    ingest(store, 4)
    prune(store, START + 3 * H, batch=25)
    prune(store, START + 5 * H, include_undelivered=True, batch=25)
    kept = {t: stored_state(store)[t] for t in ("closed_minute", "closed_hour")}
    assert kept["closed_minute"] and any(pruned for _closed, pruned in kept["closed_minute"].values())
    with store.write() as conn:  # as a version-8 store lacks them
        conn.exec_driver_sql("DELETE FROM closed_minute")
        conn.exec_driver_sql("DELETE FROM closed_hour")
        MIGRATIONS[8](conn)
    assert {t: stored_state(store)[t] for t in ("closed_minute", "closed_hour")} == kept
    assert_everything_agrees(store, WINDOWS[:3], exact=False)


def test_verify_finds_a_closed_count_changed_behind_the_writer(store: Store) -> None:
    ingest(store, 5)
    with store.write() as conn:
        conn.exec_driver_sql("UPDATE closed_hour SET closed = closed + 1 WHERE endpoint_id = 'ep_b'")
    problems = verify_derived_state(store)
    assert problems and all(p.startswith("closed_hour (") and "'ep_b'" in p for p in problems)


def test_an_older_store_reads_the_backlog_from_its_deliveries(store: Store) -> None:
    ingest(store, 6)
    with store.write() as conn:  # as a version-8 store opened read-only: no closed counts
        conn.exec_driver_sql("DELETE FROM closed_minute")
        conn.exec_driver_sql("DELETE FROM closed_hour")
    store.dialect.closed_counts = False
    assert_everything_agrees(store, WINDOWS[:2])
