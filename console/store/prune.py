"""Retention: remove old deliveries with their attempts (and events left without deliveries) in batches of
`BATCH` deliveries, one write transaction each, so no lock is held for long. Rollups keep the history unless
given a horizon of their own.

A batch is set-based: its deliveries' keys go into a temporary table (the next prunable deliveries by first
attempt, from where the previous batch stopped: no batch rereads what earlier ones passed over), and each table
is cleaned with one statement joined to it; per-key statements cost a round trip and a plan per delivery
(measured on PostgreSQL: 4x the time).

A delivery is pruned whole, when its last attempt is older than the cutoff; undelivered ones are kept unless
asked for, so nothing still to be replayed disappears. Attempts a replay sent to another target (`--to`, kept in
`replay_target_attempt`) go by their own time: those older than the cutoff, unless their job may still run.
Afterwards the space is given back (`upkeep.give_space_back`). Attempts not yet counted in the running totals
behind /metrics are counted before they go (console/store/totals.py), so a prune never lowers a counter.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, column, delete, func, insert, select, table
from sqlalchemy.engine import Connection

from console.domain.replay import JobState
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE, now_ms
from console.store import closed_counts, gap_counts, ordering, tables, totals
from console.store.engine import Store
from console.store.upkeep import PRUNED_TABLES, ROLLUP_TABLES, give_space_back

BATCH = 20_000  # deliveries per transaction
BATCH_KEYS = "prune_batch"  # the temporary table holding one batch's deliveries
KEYS = table(
    BATCH_KEYS, column("event_id"), column("endpoint_id"), column("attempts"), column("first_attempt_at")
)


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
    with store.read() as conn:
        counted = totals.has_totals(conn)  # attempts are counted for /metrics: count before deleting
    # Batches walk the deliveries by first attempt, each from where the last stopped (a delivery an ingest
    # moves behind that point while prune runs is left to the next prune).
    since: int | None = None
    while True:
        with store.write() as conn:
            taken = _take_batch(conn, cutoff_ms, include_undelivered, since, batch)
            if taken is None:
                break
            deliveries, attempts, since = taken
            result.events += _remove_batch(conn, store, counted)
            result.deliveries += deliveries
            result.attempts += attempts  # a delivery counts exactly its attempts
            result.batches += 1
    result.target_attempts = _prune_target_attempts(store, cutoff_ms, batch)
    if rollups_cutoff_ms is not None:
        result.rollup_rows = _prune_rollups(store, rollups_cutoff_ms)
    removed = result.deliveries + result.target_attempts + result.rollup_rows
    if removed or full_vacuum:
        tables = PRUNED_TABLES + (ROLLUP_TABLES if rollups_cutoff_ms is not None else ())
        give_space_back(store, tables, full=full_vacuum)
    return result


def _take_batch(
    conn: Connection, cutoff_ms: int, include_undelivered: bool, since: int | None, batch: int
) -> tuple[int, int, int] | None:
    """Put the next `batch` prunable deliveries (first attempt at or after `since`) in the temporary table
    `BATCH_KEYS`; returns how many, their attempts and the newest first attempt among them, or None (and no
    table) when none is left."""
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {BATCH_KEYS} (event_id VARCHAR NOT NULL, endpoint_id VARCHAR NOT NULL,"
        " attempts INTEGER NOT NULL, first_attempt_at BIGINT NOT NULL)"
    )
    if conn.dialect.name == "postgresql":  # compiling these statements costs more than running them
        conn.exec_driver_sql("SET LOCAL jit = off")
    d = DELIVERY
    conditions = _prunable(cutoff_ms, include_undelivered)
    if since is not None:
        conditions.append(d.c.first_attempt_at >= since)
    candidates = (
        select(d.c.event_id, d.c.endpoint_id, d.c.attempts, d.c.first_attempt_at)
        .where(*conditions)
        .order_by(d.c.first_attempt_at)
        .limit(batch)
    )
    conn.execute(insert(KEYS).from_select(list(KEYS.c.keys()), candidates))
    k = KEYS.c
    deliveries, attempts, newest = conn.execute(
        select(func.count(), func.coalesce(func.sum(k.attempts), 0), func.max(k.first_attempt_at))
    ).one()
    if not deliveries:
        conn.exec_driver_sql(f"DROP TABLE {BATCH_KEYS}")
        return None
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {BATCH_KEYS}")  # the planner's row count for the joins below
    return int(deliveries), int(attempts), int(newest)


def _remove_batch(conn: Connection, store: Store, counted: bool) -> int:
    """Delete the deliveries in `BATCH_KEYS` with their attempts and resolutions, then their events left
    without deliveries, keeping the running totals and the gap counts; drops the table; returns the events
    removed. Each delete is one statement over the table."""
    keys = f"SELECT event_id, endpoint_id FROM {BATCH_KEYS}"
    touched = f"d.event_id IN (SELECT event_id FROM {BATCH_KEYS})"
    if counted:
        totals.before_attempts_deleted(conn, store.dialect.placeholder, now_ms())
    counted_before = gap_counts.contributions(conn, touched, ())  # (docs/gaps.md)
    closed_counts.before_deliveries_deleted(conn, store.dialect, keys)  # the backlog's closes
    pairs = [(event_id, endpoint_id) for event_id, endpoint_id in conn.exec_driver_sql(keys)]
    for name in ("delivery_attempt", "delivery", "delivery_resolution"):  # resolutions' history goes too
        conn.exec_driver_sql(f"DELETE FROM {name} WHERE (event_id, endpoint_id) IN ({keys})")
    ordering.after_prune(conn, store.dialect, pairs, keys)  # their ordering anomalies (docs/report.md)
    if counted:
        totals.after_attempts_deleted(conn)
    gone = conn.exec_driver_sql(
        f"DELETE FROM event WHERE event_id IN (SELECT event_id FROM {BATCH_KEYS}) AND NOT EXISTS "
        "(SELECT 1 FROM delivery d WHERE d.event_id = event.event_id)"
    )
    gap_counts.apply(conn, store.dialect, counted_before, gap_counts.contributions(conn, touched, ()))
    conn.exec_driver_sql(f"DROP TABLE {BATCH_KEYS}")
    return max(int(gone.rowcount or 0), 0)


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
            ("closed_minute", MS_PER_MINUTE),
            ("closed_hour", MS_PER_HOUR),
        ):
            result = conn.exec_driver_sql(f"DELETE FROM {table} WHERE bucket < {p}", (cutoff_ms // width,))
            removed += max(int(result.rowcount or 0), 0)
    return removed
