"""Prune in batches against a direct oracle, on both stores: on seeded random histories (fan-out to several
endpoints, retries, replays, resolutions, a delivery claimed by a job, many deliveries sharing one first-attempt
time so batches end inside a tie), any batch size removes exactly the deliveries the retention condition selects,
with their attempts and resolutions and the events left without deliveries, and the derived state stays exact."""

from __future__ import annotations

import random
import threading

import pytest

from console.domain.filters import DeliveryFilter
from console.domain.resolutions import ResolutionAction
from console.domain.times import MS_PER_HOUR
from console.store import Store
from console.store.prune import PruneResult, count_prunable, prune
from console.store.recount import verify_derived_state
from console.store.resolutions import change
from console.store.writer import write_batch
from tests.test_gaps_state import START, history

CUTOFF = START + 4 * MS_PER_HOUR
TIE = 10 * 60_000  # first attempts snapped to 10-minute marks: dozens of deliveries share each time

State = tuple[set[tuple[str, str]], set[tuple[str, str, int, str]], set[str], list[tuple[str, str]]]


def _seed(store: Store, seed: int) -> None:
    attempts, events = history(seed)
    snapped = [a._replace(attempted_at_ms=a.attempted_at_ms // TIE * TIE) for a in attempts]
    rnd = random.Random(seed)
    rnd.shuffle(snapped)
    for start in range(0, len(snapped), 200):
        batch = snapped[start : start + 200]
        write_batch(store, batch, [events[e] for e in sorted({a.event_id for a in batch})])
    with store.read() as conn:
        undelivered = conn.exec_driver_sql(
            "SELECT event_id, endpoint_id FROM delivery WHERE delivered_at IS NULL ORDER BY 1, 2"
        ).fetchall()
    pairs = [(e, ep) for e, ep in undelivered][::3]
    change(
        store, DeliveryFilter(), ResolutionAction.RESOLVE, reason="r", operator="o", now_ms=START, pairs=pairs
    )
    reopened = pairs[::2]
    change(
        store,
        DeliveryFilter(),
        ResolutionAction.REOPEN,
        reason="r",
        operator="o",
        now_ms=START,
        pairs=reopened,
    )
    p = store.dialect.placeholder
    with store.write() as conn:  # one old delivery held by a running replay: it stays
        held = conn.exec_driver_sql(
            f"SELECT MIN(event_id) FROM delivery WHERE last_attempt_at < {p}", (CUTOFF,)
        ).scalar_one()
        conn.exec_driver_sql(
            f"UPDATE delivery SET claim_job = 'rj_running', claim_until = 0 WHERE event_id = {p}", (held,)
        )


def _state(store: Store) -> State:
    with store.read() as conn:
        deliveries = {(e, ep) for e, ep in conn.exec_driver_sql("SELECT event_id, endpoint_id FROM delivery")}
        attempts = {
            (e, ep, int(n), t)
            for e, ep, n, t in conn.exec_driver_sql(
                "SELECT event_id, endpoint_id, attempt, trigger FROM delivery_attempt"
            )
        }
        events = {e for (e,) in conn.exec_driver_sql("SELECT event_id FROM event")}
        resolutions = sorted(
            (e, ep) for e, ep in conn.exec_driver_sql("SELECT event_id, endpoint_id FROM delivery_resolution")
        )
    return deliveries, attempts, events, resolutions


def _prunable(store: Store, include_undelivered: bool) -> set[tuple[str, str]]:
    """The retention condition, read directly."""
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT event_id, endpoint_id, first_attempt_at, last_attempt_at, delivered_at, claim_job FROM delivery"
        ).fetchall()
    return {
        (e, ep)
        for e, ep, first, last, delivered, claim in rows
        if first < CUTOFF
        and last < CUTOFF
        and claim is None
        and (include_undelivered or delivered is not None)
    }


def _expected(before: State, gone: set[tuple[str, str]]) -> State:
    deliveries, attempts, events, resolutions = before
    kept = deliveries - gone
    return (
        kept,
        {a for a in attempts if (a[0], a[1]) not in gone},
        {e for e in events if any(k[0] == e for k in kept)},
        [r for r in resolutions if r not in gone],
    )


@pytest.mark.parametrize(("seed", "batch"), [(1, 25), (2, 5), (3, 60), (4, 100_000)])
def test_prune_in_batches_removes_exactly_the_prunable_deliveries(
    store: Store, seed: int, batch: int
) -> None:
    _seed(store, seed)
    for include_undelivered in (False, True):
        before = _state(store)
        gone = _prunable(store, include_undelivered)
        assert gone and gone != before[0]
        planned = count_prunable(store, CUTOFF, include_undelivered)
        result = prune(store, CUTOFF, include_undelivered=include_undelivered, batch=batch)
        after = _state(store)
        assert after == _expected(before, gone)
        assert (
            (result.deliveries, result.attempts)
            == (planned.deliveries, planned.attempts)
            == (
                len(gone),
                len(before[1]) - len(after[1]),
            )
        )
        assert result.events == len(before[2]) - len(after[2])
        assert result.batches == -(-len(gone) // batch)  # a batch ending inside a tie loses nothing
        # (rollups and closed counts keep the pruned deliveries by design: prune drops them by their own cutoff)
        assert [
            p for p in verify_derived_state(store) if not p.startswith(("rollup_", "failure_", "closed_"))
        ] == []
    assert prune(store, CUTOFF, include_undelivered=True, batch=batch) == PruneResult()


def test_an_ingest_beside_a_prune_loses_nothing(store: Store) -> None:
    """Writers take turns batch by batch: an ingest running while prune runs stores all it writes, and both
    leave the derived state exact."""
    _seed(store, 5)
    gone = _prunable(store, True)
    attempts, events = history(6)
    later = [a._replace(attempted_at_ms=a.attempted_at_ms + 6 * MS_PER_HOUR) for a in attempts]  # kept
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            for start in range(0, len(later), 37):
                batch = later[start : start + 37]
                write_batch(store, batch, [events[e] for e in sorted({a.event_id for a in batch})])
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=ingest)
    thread.start()
    result = prune(store, CUTOFF, include_undelivered=True, batch=5)
    thread.join(timeout=120)
    assert not thread.is_alive() and errors == []
    deliveries, stored, _, _ = _state(store)
    assert result.deliveries == len(gone) and not gone & deliveries
    assert {(a.event_id, a.endpoint_id, a.attempt, a.trigger.value) for a in later} <= stored
    assert [
        p for p in verify_derived_state(store) if not p.startswith(("rollup_", "failure_", "closed_"))
    ] == []
