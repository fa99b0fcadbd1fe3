"""Retention: remove old deliveries with their attempts (and events left without deliveries) in small batches,
so no lock is held for long. Rollups keep the history unless given a horizon of their own.

A delivery is pruned whole, when its last attempt is older than the cutoff; undelivered ones are kept unless
asked for, so nothing still to be replayed disappears. Attempts a replay sent to another target (`--to`, kept in
`replay_target_attempt`) go by their own time: those older than the cutoff, unless their job may still run.
Afterwards the space is given back (`upkeep.give_space_back`). Attempts not yet counted in the running totals
behind /metrics are counted before they go (console/store/totals.py), so a prune never lowers a counter.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, select

from console.domain.replay import JobState
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE, now_ms
from console.store import gap_counts, ordering, tables, totals
from console.store.engine import Store
from console.store.upkeep import PRUNED_TABLES, ROLLUP_TABLES, give_space_back

BATCH = 2000


@dataclass
class PruneResult:
    deliveries: int = 0
    attempts: int = 0
    events: int = 0
    rollup_rows: int = 0
    batches: int = 0
    target_attempts: int = 0  # attempts a replay sent to another target (`--to`)


DELIVERY = tables.delivery


def _prunable(cutoff_ms: int, include_undelivered: bool) -> list[ColumnElement[bool]]:
    """Deliveries wholly older than the cutoff, not claimed by a replay job (and delivered, unless asked)."""
    d = DELIVERY
    conditions = [d.c.first_attempt_at < cutoff_ms, d.c.last_attempt_at < cutoff_ms, d.c.claim_job.is_(None)]
    if not include_undelivered:
        conditions.append(d.c.delivered_at.is_not(None))
    return conditions


TARGET_ATTEMPT = tables.replay_target_attempt
JOB = tables.replay_job
UNFINISHED = tuple(s.value for s in (JobState.PLANNED, JobState.RUNNING, JobState.INTERRUPTED))


def _prunable_target_attempts(cutoff_ms: int) -> list[ColumnElement[bool]]:
    """Attempts sent to another target before the cutoff, unless their job may still run (it numbers its next
    attempts after them)."""
    t = TARGET_ATTEMPT
    unfinished = select(JOB.c.id).where(JOB.c.state.in_(UNFINISHED))
    return [t.c.attempted_at < cutoff_ms, t.c.job_id.not_in(unfinished)]


def count_prunable(store: Store, cutoff_ms: int, include_undelivered: bool) -> PruneResult:
    """What `prune` would remove (deliveries, attempts, attempts sent to other targets), removing nothing."""
    d = DELIVERY
    query = select(func.count(), func.coalesce(func.sum(d.c.attempts), 0)).where(
        *_prunable(cutoff_ms, include_undelivered)
    )
    targets = select(func.count()).select_from(TARGET_ATTEMPT).where(*_prunable_target_attempts(cutoff_ms))
    with store.read() as conn:
        deliveries, attempts = conn.execute(query).one()
        target_attempts = int(conn.execute(targets).scalar_one())
    return PruneResult(deliveries=int(deliveries), attempts=int(attempts), target_attempts=target_attempts)


def prune(
    store: Store,
    cutoff_ms: int,
    *,
    include_undelivered: bool = False,
    rollups_cutoff_ms: int | None = None,
    batch: int = BATCH,
    full_vacuum: bool = False,
) -> PruneResult:
    """Remove prunable deliveries batch by batch (one short transaction each), then old rollups if asked,
    then give the space back (a full VACUUM with `full_vacuum`, even when nothing was removed)."""
    result = PruneResult()
    p = store.dialect.placeholder
    d = DELIVERY
    candidates = (
        select(d.c.event_id, d.c.endpoint_id, d.c.attempts)
        .where(*_prunable(cutoff_ms, include_undelivered))
        .order_by(d.c.first_attempt_at)
        .limit(batch)
    )
    with store.read() as conn:
        counted = totals.has_totals(conn)  # attempts are counted for /metrics: count before deleting
    while True:
        with store.write() as conn:
            rows = conn.execute(candidates).fetchall()
            if not rows:
                break
            if counted:
                totals.before_attempts_deleted(conn, p, now_ms())
            # The deletes stay driver SQL: executemany over (event_id, endpoint_id) pairs, the write path.
            pairs = [(r.event_id, r.endpoint_id) for r in rows]
            touched = sorted({r.event_id for r in rows})
            counted_before = gap_counts.of_events(conn, store.dialect, touched)  # (docs/gaps.md)
            conn.exec_driver_sql(
                f"DELETE FROM delivery_attempt WHERE event_id = {p} AND endpoint_id = {p}", pairs
            )
            result.attempts += sum(r.attempts for r in rows)  # a delivery counts exactly its attempts
            conn.exec_driver_sql(f"DELETE FROM delivery WHERE event_id = {p} AND endpoint_id = {p}", pairs)
            ordering.after_prune(conn, store.dialect, pairs)  # their ordering anomalies (docs/report.md)
            conn.exec_driver_sql(  # their resolutions' history goes with them
                f"DELETE FROM delivery_resolution WHERE event_id = {p} AND endpoint_id = {p}", pairs
            )
            if counted:
                totals.after_attempts_deleted(conn)
            events = sorted({r.event_id for r in rows})
            marks = ", ".join(p for _ in events)
            gone = conn.exec_driver_sql(
                f"DELETE FROM event WHERE event_id IN ({marks}) AND NOT EXISTS "
                "(SELECT 1 FROM delivery d WHERE d.event_id = event.event_id)",
                tuple(events),
            )
            result.events += max(int(gone.rowcount or 0), 0)
            gap_counts.apply(
                conn, store.dialect, counted_before, gap_counts.of_events(conn, store.dialect, touched)
            )
            result.deliveries += len(rows)
            result.batches += 1
    result.target_attempts = _prune_target_attempts(store, cutoff_ms, batch)
    if rollups_cutoff_ms is not None:
        result.rollup_rows = _prune_rollups(store, rollups_cutoff_ms)
    removed = result.deliveries + result.target_attempts + result.rollup_rows
    if removed or full_vacuum:
        tables = PRUNED_TABLES + (ROLLUP_TABLES if rollups_cutoff_ms is not None else ())
        give_space_back(store, tables, full=full_vacuum)
    return result


def _prune_target_attempts(store: Store, cutoff_ms: int, batch: int) -> int:
    """Remove old attempts sent to other targets, `batch` rows per short transaction."""
    t = TARGET_ATTEMPT
    oldest = select(t.c.seq).where(*_prunable_target_attempts(cutoff_ms)).order_by(t.c.seq).limit(batch)
    removed = 0
    while True:
        with store.write() as conn:
            seqs = list(conn.execute(oldest).scalars())
            if seqs:
                conn.execute(delete(t).where(t.c.seq.in_(seqs)))
        removed += len(seqs)
        if len(seqs) < batch:
            return removed


def _prune_rollups(store: Store, cutoff_ms: int) -> int:
    p = store.dialect.placeholder
    removed = 0
    with store.write() as conn:
        for table, width in (
            ("rollup_minute", MS_PER_MINUTE),
            ("rollup_hour", MS_PER_HOUR),
            ("failure_minute", MS_PER_MINUTE),
        ):
            result = conn.exec_driver_sql(f"DELETE FROM {table} WHERE bucket < {p}", (cutoff_ms // width,))
            removed += max(int(result.rowcount or 0), 0)
    return removed
