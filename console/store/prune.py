"""Retention: remove old deliveries with their attempts (and events left without deliveries) in small batches,
so no lock is held for long. Rollups keep the history unless given a horizon of their own.

A delivery is pruned whole, when its last attempt is older than the cutoff; undelivered ones are kept unless
asked for, so nothing still to be replayed disappears.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store.engine import Store

BATCH = 2000


@dataclass
class PruneResult:
    deliveries: int = 0
    attempts: int = 0
    events: int = 0
    rollup_rows: int = 0
    batches: int = 0


def _candidates_sql(p: str, include_undelivered: bool, limit: int) -> str:
    undelivered = "" if include_undelivered else " AND delivered_at IS NOT NULL"
    return (
        f"SELECT event_id, endpoint_id, attempts FROM delivery WHERE first_attempt_at < {p} AND last_attempt_at < {p}"
        f"{undelivered} AND claim_job IS NULL ORDER BY first_attempt_at LIMIT {int(limit)}"
    )


def count_prunable(store: Store, cutoff_ms: int, include_undelivered: bool) -> PruneResult:
    """What `prune` would remove (deliveries and attempts), without removing anything."""
    p = store.dialect.placeholder
    undelivered = "" if include_undelivered else " AND delivered_at IS NOT NULL"
    with store.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT COUNT(*), COALESCE(SUM(attempts), 0) FROM delivery "
            f"WHERE first_attempt_at < {p} AND last_attempt_at < {p}{undelivered} AND claim_job IS NULL",
            (cutoff_ms, cutoff_ms),
        ).first()
    assert row is not None
    return PruneResult(deliveries=int(row[0]), attempts=int(row[1]))


def prune(
    store: Store,
    cutoff_ms: int,
    *,
    include_undelivered: bool = False,
    rollups_cutoff_ms: int | None = None,
    batch: int = BATCH,
) -> PruneResult:
    """Remove prunable deliveries batch by batch (one short transaction each), then old rollups if asked."""
    result = PruneResult()
    p = store.dialect.placeholder
    while True:
        with store.write() as conn:
            rows = conn.exec_driver_sql(
                _candidates_sql(p, include_undelivered, batch), (cutoff_ms, cutoff_ms)
            ).fetchall()
            if not rows:
                break
            pairs = [(r[0], r[1]) for r in rows]
            conn.exec_driver_sql(
                f"DELETE FROM delivery_attempt WHERE event_id = {p} AND endpoint_id = {p}", pairs
            )
            result.attempts += sum(r[2] for r in rows)  # a delivery counts exactly its attempts
            conn.exec_driver_sql(f"DELETE FROM delivery WHERE event_id = {p} AND endpoint_id = {p}", pairs)
            events = sorted({r[0] for r in rows})
            marks = ", ".join(p for _ in events)
            gone = conn.exec_driver_sql(
                f"DELETE FROM event WHERE event_id IN ({marks}) AND NOT EXISTS "
                "(SELECT 1 FROM delivery d WHERE d.event_id = event.event_id)",
                tuple(events),
            )
            result.events += max(int(gone.rowcount or 0), 0)
            result.deliveries += len(rows)
            result.batches += 1
    if rollups_cutoff_ms is not None:
        result.rollup_rows = _prune_rollups(store, rollups_cutoff_ms)
    return result


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
