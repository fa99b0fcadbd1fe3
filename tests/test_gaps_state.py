"""The gap checks read state the writers keep (scheduled attempt counts, per-hour missing-delivery counts):
on seeded random histories (out-of-order batches, duplicates, several tenants and a relabelled endpoint,
skipped numbers, manual replays, events without a payload, prune) every figure equals the old direct
computation over the attempts (tests/gaps_oracle.py), and `verify_derived_state` finds the state exact."""

from __future__ import annotations

import random
from typing import Any

import pytest

from console.domain.filters import DeliveryFilter
from console.domain.gaps import GapReport, GapRules
from console.domain.outcomes import Outcome, Trigger
from console.domain.records import AttemptRecord, EventRecord
from console.domain.times import MS_PER_HOUR
from console.store import Store
from console.store.cursors import write_with_cursor
from console.store.gaps import find_gaps
from console.store.prune import prune
from console.store.recount import verify_derived_state
from console.store.writer import write_batch
from tests import gaps_oracle

START = 1_777_939_200_000  # 2026-05-05T00:00:00Z
NOW = START + 8 * MS_PER_HOUR + 17 * 60_000  # the last hours are still in flight
TYPES = ("reward.redeemed", "reward.reversed")
TENANTS = {
    "ep_a": "svix:app_1",
    "ep_b": "svix:app_1",
    "ep_c": "svix:app_1",
    "ep_x": "svix:app_2",
    "ep_y": None,
}
ALL = 10_000  # a list limit above any count here


def history(seed: int) -> tuple[list[AttemptRecord], dict[str, EventRecord]]:
    """Events fanned out to most endpoints of their tenant, with retries, skipped numbers and replays."""
    rnd = random.Random(seed)
    attempts: list[AttemptRecord] = []
    events: dict[str, EventRecord] = {}
    tenants = (("ep_a", "ep_b", "ep_c"), ("ep_x", "ep_y"))
    for n in range(rnd.randint(150, 250)):
        event_id, event_type = f"evt_{seed}_{n}", rnd.choice(TYPES)
        at = START + rnd.randrange(8 * MS_PER_HOUR + 40 * 60_000)
        payload = None if rnd.random() < 0.05 else b'{"n": %d}' % n
        events[event_id] = EventRecord(event_id, event_type, at, payload)  # type: ignore[arg-type]
        for endpoint_id in rnd.choice(tenants):
            if rnd.random() < 0.12:  # never sent there: a missing delivery
                continue
            tries = rnd.choice((1, 1, 1, 2, 3, 5))
            for number in range(1, tries + 1):
                if 1 < number < tries and rnd.random() < 0.3:  # lost from the log: a skipped number
                    continue
                outcome = Outcome.SUCCESS if number == tries and rnd.random() < 0.8 else Outcome.HTTP_ERROR
                first = at + rnd.randrange(-90_000, 90_000)  # fan-out spread: may cross an hour
                attempts.append(
                    AttemptRecord(
                        event_id, event_type, endpoint_id, number, first + number * 600_000, outcome, 500
                    )
                )
            if rnd.random() < 0.05:  # an operator's replay
                attempts.append(
                    AttemptRecord(
                        event_id,
                        event_type,
                        endpoint_id,
                        1,
                        at + 2 * MS_PER_HOUR,
                        Outcome.SUCCESS,
                        200,
                        trigger=Trigger.MANUAL,
                    )
                )
    return attempts, events


def ingest(store: Store, seed: int) -> None:
    """Write the history in shuffled batches, some twice, some through a source that labels tenants."""
    rnd = random.Random(seed + 1)
    attempts, events = history(seed)
    rnd.shuffle(attempts)
    sent: set[str] = set()
    labels = {e: s for e, s in TENANTS.items() if s is not None}
    for start in range(0, len(attempts), 37):
        batch = attempts[start : start + 37]
        offered = [events[a.event_id] for a in batch if a.event_id not in sent]
        sent.update(a.event_id for a in batch)
        if rnd.random() < 0.3:
            write_with_cursor(store, "svix://test", {"at": start}, batch, offered, labels)
        else:
            write_batch(store, batch, offered)
        if rnd.random() < 0.2:  # re-ingest: duplicates change nothing
            write_batch(store, batch[: len(batch) // 2], offered)
    # ep_c moves to the other tenant (its events' tenant and counts move with it)
    write_with_cursor(store, "svix://test", {"at": "end"}, attempts[:3], [], {"ep_c": "svix:app_2"})


def oracle(store: Store, flt: DeliveryFilter, rules: GapRules) -> GapReport:
    """The old computation, over the delivery and attempt tables of the window."""
    report = gaps_oracle.find_gaps(store, flt, rules, NOW)
    assert report is not None
    return report


def figures(report: GapReport | None) -> tuple[Any, ...]:
    assert report is not None
    return (
        report.skipped_count,
        report.skipped,
        report.missing_count,
        report.missing,
        report.stuck_count,
        report.stuck,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gap_figures_equal_a_direct_computation(store: Store, seed: int) -> None:
    ingest(store, seed)
    assert verify_derived_state(store) == []
    for rules in (
        GapRules(limit=ALL),
        GapRules(limit=3),
        GapRules(limit=ALL, min_received=1, max_tries=3, stuck_after_ms=MS_PER_HOUR),
    ):
        for flt in (
            DeliveryFilter(),
            DeliveryFilter(endpoint_ids=("ep_b", "ep_y")),
            DeliveryFilter(event_types=TYPES[:1]),
        ):
            assert figures(find_gaps(store, flt, rules, NOW)) == figures(oracle(store, flt, rules)), (
                rules,
                flt,
            )
    everything = find_gaps(store, DeliveryFilter(), GapRules(limit=ALL), NOW)
    assert everything is not None and everything.missing_count > 3 and everything.skipped_count > 3
    # A window holds the hours it overlaps; filters on events narrow the events listed, not the ones counted.
    since = START + 3 * MS_PER_HOUR + 1234
    windowed = find_gaps(store, DeliveryFilter(since_ms=since), GapRules(limit=ALL), NOW)
    assert windowed is not None
    assert windowed.missing == tuple(
        m for m in everything.missing if m.hour_ms >= since // MS_PER_HOUR * MS_PER_HOUR
    )
    some = tuple(sorted({m.event_id for m in everything.missing})[::2])
    narrowed = find_gaps(store, DeliveryFilter(event_ids=some), GapRules(limit=ALL), NOW)
    assert narrowed is not None
    assert narrowed.missing == tuple(m for m in everything.missing if m.event_id in some)
    assert narrowed.missing_count == len(narrowed.missing)

    # Prune takes deliveries away (the delivered ones, then all): the state follows, the figures still agree.
    for include_undelivered in (False, True):
        prune(store, START + 4 * MS_PER_HOUR, include_undelivered=include_undelivered, batch=25)
        # (rollups and the backlog's closed counts keep the pruned attempts' counts by design: prune drops them
        # by their own cutoff)
        kept = ("rollup_", "failure_", "closed_")
        assert [p for p in verify_derived_state(store) if not p.startswith(kept)] == []
        rules = GapRules(limit=ALL)
        assert figures(find_gaps(store, DeliveryFilter(), rules, NOW)) == figures(
            oracle(store, DeliveryFilter(), rules)
        )


def test_an_upgraded_store_fills_the_gap_state_from_its_attempts(store: Store) -> None:
    """The upgrade to version 7 fills the state in SQL: the same figures as the writer kept."""
    from console.store import gap_counts
    from console.store.schema import MIGRATIONS

    ingest(store, 4)
    rules = GapRules(limit=ALL)
    kept = figures(find_gaps(store, DeliveryFilter(), rules, NOW))
    with store.write() as conn:  # the state as a version-6 store lacks it
        conn.exec_driver_sql("UPDATE delivery SET scheduled_attempts = NULL, scheduled_max = NULL")
        conn.exec_driver_sql("DELETE FROM gap_hour_events")
        conn.exec_driver_sql("DELETE FROM gap_hour_received")
        assert not gap_counts.stored(conn)
        MIGRATIONS[6](conn)
    assert verify_derived_state(store) == []
    assert figures(find_gaps(store, DeliveryFilter(), rules, NOW)) == kept


def test_verify_finds_a_gap_count_changed_behind_the_writer(store: Store) -> None:
    ingest(store, 5)
    assert verify_derived_state(store) == []
    with store.write() as conn:
        conn.exec_driver_sql(
            "UPDATE gap_hour_received SET received = received + 1 WHERE endpoint_id = 'ep_b'"
        )
        conn.exec_driver_sql("UPDATE delivery SET scheduled_attempts = 0 WHERE endpoint_id = 'ep_x'")
    problems = verify_derived_state(store)
    assert any(p.startswith("gap_counts (") and "'ep_b'" in p for p in problems)
    assert any(p.startswith("delivery (") and "'ep_x'" in p for p in problems)


def test_a_reading_command_on_an_older_store_leaves_the_gaps_out(store: Store, store_url: str) -> None:
    import orjson

    from tests.helpers import run

    ingest(store, 6)
    assert "gaps" in orjson.loads(run("--db", store_url, "stats", "--json").stdout)
    with store.write() as conn:  # as a version-6 store reads (its state absent)
        conn.exec_driver_sql("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    done = run("--db", store_url, "stats", "--json")
    assert done.exit_code == 0, done.stderr
    figures = orjson.loads(done.stdout)
    assert "gaps" not in figures and figures["endpoints"]
