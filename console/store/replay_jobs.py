"""The replay journal: jobs, their items, claims on deliveries, and results written with their attempts.

An item is claimed (its delivery marked with the job and a lease, the item set to `sending`) before its
request goes out, and its result is written with the attempts it made in one transaction. Two jobs never
hold the same delivery: a delivery claimed by a live job waits; one delivered meanwhile is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from console.domain.records import AttemptRecord
from console.domain.replay import EndpointProgress, ItemState, JobState, JobView, PlannedItem
from console.store.engine import Store
from console.store.writer import write_in_transaction


@dataclass(frozen=True)
class ClaimedItem:
    """An item this runner may send now; its attempts are numbered from `base_attempt + 1`."""

    event_id: str
    endpoint_id: str
    event_type: str
    payload: bytes
    base_attempt: int


@dataclass
class ClaimBatch:
    claimed: list[ClaimedItem] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    waiting: int = 0


@dataclass(frozen=True)
class ItemResult:
    """How one item ended and the attempts it made (stored as manual attempts of the job)."""

    event_id: str
    endpoint_id: str
    state: ItemState
    attempts: tuple[AttemptRecord, ...] = ()
    last_status_code: int | None = None
    last_error: str | None = None


def create_job(store: Store, job_id: str, selection: str, force: bool, concurrency: int,
               items: Sequence[PlannedItem], now_ms: int) -> None:  # fmt: skip
    """Persist a planned job: items to send are pending, the others skipped with their reason."""
    p = store.dialect.placeholder
    with store.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO replay_job (id, created_at, state, selection, force, concurrency, total) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
            (job_id, now_ms, JobState.PLANNED.value, selection, force, concurrency, len(items)),
        )
        rows = [
            (job_id, item.event_id, item.endpoint_id, position,
             ItemState.SKIPPED.value if item.skip_reason else ItemState.PENDING.value, 0, item.skip_reason, now_ms)
            for position, item in enumerate(items)
        ]  # fmt: skip
        store.dialect.bulk_insert(
            conn,
            "replay_item",
            (
                "job_id",
                "event_id",
                "endpoint_id",
                "position",
                "state",
                "attempts",
                "last_error",
                "updated_at",
            ),
            rows,
        )


def set_job_state(store: Store, job_id: str, state: JobState, now_ms: int, *, runner: str | None = None,
                  note: str | None = None) -> None:  # fmt: skip
    p = store.dialect.placeholder
    sets = [f"state = {p}", f"heartbeat_at = {p}"]
    params: list[Any] = [state.value, now_ms]
    if state is JobState.RUNNING:
        sets += [f"started_at = COALESCE(started_at, {p})", f"runner = {p}", "finished_at = NULL"]
        params += [now_ms, runner]
    elif state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED):
        sets.append(f"finished_at = {p}")
        params.append(now_ms)
    if note is not None:
        sets.append(f"note = {p}")
        params.append(note)
    with store.write() as conn:
        conn.exec_driver_sql(f"UPDATE replay_job SET {', '.join(sets)} WHERE id = {p}", (*params, job_id))


def heartbeat(store: Store, job_id: str, now_ms: int) -> JobState | None:
    """Record that the runner is alive; returns the job's state (another process may have cancelled it)."""
    p = store.dialect.placeholder
    with store.write() as conn:
        conn.exec_driver_sql(f"UPDATE replay_job SET heartbeat_at = {p} WHERE id = {p}", (now_ms, job_id))
        row = conn.exec_driver_sql(f"SELECT state FROM replay_job WHERE id = {p}", (job_id,)).first()
    return JobState(row[0]) if row else None


def claim_items(store: Store, job_id: str, limit: int, lease_ms: int, now_ms: int, force: bool,
                endpoint_ids: Sequence[str] | None = None) -> ClaimBatch:  # fmt: skip
    """Claim up to `limit` pending items (in plan order) for sending; see the module docstring."""
    p = store.dialect.placeholder
    batch = ClaimBatch()
    only = ""
    params: list[Any] = [job_id]
    if endpoint_ids is not None:
        if not endpoint_ids:
            return batch
        only = f" AND i.endpoint_id IN ({', '.join(p for _ in endpoint_ids)})"
        params += list(endpoint_ids)
    with store.claim() as conn:
        candidates = conn.exec_driver_sql(
            "SELECT i.event_id, i.endpoint_id, d.event_type, d.delivered_at, d.claim_job, d.claim_until, d.max_attempt "
            "FROM replay_item i JOIN delivery d ON d.event_id = i.event_id AND d.endpoint_id = i.endpoint_id "
            f"WHERE i.job_id = {p} AND i.state = 'pending'{only} ORDER BY i.position LIMIT {int(limit) * 2}"
            f"{store.dialect.skip_locked()}",
            tuple(params),
        ).fetchall()
        claimed: list[tuple[str, str, str, int]] = []
        skipped: list[tuple[str, str]] = []
        for (
            event_id,
            endpoint_id,
            event_type,
            delivered_at,
            claim_job,
            claim_until,
            max_attempt,
        ) in candidates:
            if len(claimed) >= limit:
                break
            if delivered_at is not None and not force:
                skipped.append((event_id, endpoint_id))
            elif claim_job not in (None, job_id) and claim_until is not None and claim_until > now_ms:
                batch.waiting += 1
            else:
                claimed.append((event_id, endpoint_id, event_type, max_attempt))
        if claimed:
            conn.exec_driver_sql(
                f"UPDATE delivery SET claim_job = {p}, claim_until = {p} WHERE event_id = {p} AND endpoint_id = {p}",
                [(job_id, now_ms + lease_ms, e, ep) for e, ep, _, _ in claimed],
            )
        _set_items(conn, p, job_id, [(e, ep) for e, ep, _, _ in claimed], ItemState.SENDING, now_ms)
        _set_items(
            conn,
            p,
            job_id,
            skipped,
            ItemState.SKIPPED,
            now_ms,
            "delivered meanwhile (by another job or the dispatcher)",
        )
        batch.skipped = skipped
        if claimed:
            ids = sorted({c[0] for c in claimed})
            payloads: dict[str, bytes] = dict(
                conn.exec_driver_sql(
                    f"SELECT event_id, payload FROM event WHERE event_id IN ({', '.join(p for _ in ids)})",
                    tuple(ids),
                ).fetchall()
            )
            batch.claimed = [ClaimedItem(e, ep, t, bytes(payloads[e]), n) for e, ep, t, n in claimed]
    return batch


def _set_items(conn: Any, p: str, job_id: str, keys: Sequence[tuple[str, str]], state: ItemState, now_ms: int,
               error: str | None = None) -> None:  # fmt: skip
    if not keys:
        return
    conn.exec_driver_sql(
        f"UPDATE replay_item SET state = {p}, updated_at = {p}, last_error = COALESCE({p}, last_error) "
        f"WHERE job_id = {p} AND event_id = {p} AND endpoint_id = {p}",
        [(state.value, now_ms, error, job_id, e, ep) for e, ep in keys],
    )


def record_results(store: Store, job_id: str, results: Sequence[ItemResult], now_ms: int) -> None:
    """Write finished items with their attempts, and release their claims, in one transaction."""
    if not results:
        return
    p = store.dialect.placeholder
    attempts = [a for r in results for a in r.attempts]
    with store.write() as conn:
        if attempts:
            write_in_transaction(conn, store.dialect, attempts)
        conn.exec_driver_sql(
            f"UPDATE replay_item SET state = {p}, attempts = attempts + {p}, last_status_code = {p}, "
            f"last_error = {p}, updated_at = {p} WHERE job_id = {p} AND event_id = {p} AND endpoint_id = {p}",
            [(r.state.value, len(r.attempts), r.last_status_code, r.last_error, now_ms, job_id, r.event_id, r.endpoint_id)
             for r in results],
        )  # fmt: skip
        conn.exec_driver_sql(
            f"UPDATE delivery SET claim_job = NULL, claim_until = NULL "
            f"WHERE event_id = {p} AND endpoint_id = {p} AND claim_job = {p}",
            [(r.event_id, r.endpoint_id, job_id) for r in results],
        )


def release_pending(store: Store, job_id: str, keys: Sequence[tuple[str, str]], now_ms: int) -> None:
    """Give back items that were claimed but not sent: pending again, claims released."""
    if not keys:
        return
    p = store.dialect.placeholder
    with store.write() as conn:
        _set_items(conn, p, job_id, keys, ItemState.PENDING, now_ms)
        conn.exec_driver_sql(
            f"UPDATE delivery SET claim_job = NULL, claim_until = NULL "
            f"WHERE event_id = {p} AND endpoint_id = {p} AND claim_job = {p}",
            [(e, ep, job_id) for e, ep in keys],
        )


def fail_pending(store: Store, job_id: str, endpoint_id: str, reason: str, now_ms: int) -> int:
    """End every pending item of one endpoint as failed (the circuit breaker opened)."""
    p = store.dialect.placeholder
    with store.write() as conn:
        result = conn.exec_driver_sql(
            f"UPDATE replay_item SET state = 'failed', last_error = {p}, updated_at = {p} "
            f"WHERE job_id = {p} AND endpoint_id = {p} AND state = 'pending'",
            (reason, now_ms, job_id, endpoint_id),
        )
        return int(result.rowcount or 0)


def reset_in_flight(store: Store, job_id: str, now_ms: int) -> int:
    """Before a resume: items left `sending` by a dead runner go back to pending (they may arrive twice;
    receivers dedupe by the event id)."""
    p = store.dialect.placeholder
    with store.write() as conn:
        result = conn.exec_driver_sql(
            f"UPDATE replay_item SET state = 'pending', updated_at = {p} WHERE job_id = {p} AND state = 'sending'",
            (now_ms, job_id),
        )
        return int(result.rowcount or 0)


def release_claims(store: Store, job_id: str) -> None:
    """Release every delivery a job holds (only once its runner is gone)."""
    p = store.dialect.placeholder
    with store.write() as conn:
        conn.exec_driver_sql(
            f"UPDATE delivery SET claim_job = NULL, claim_until = NULL WHERE claim_job = {p}", (job_id,)
        )


def cancel_job(store: Store, job_id: str, now_ms: int) -> int:
    """Cancel a job: its pending items end cancelled; a runner still going stops at its next heartbeat."""
    p = store.dialect.placeholder
    with store.write() as conn:
        result = conn.exec_driver_sql(
            f"UPDATE replay_item SET state = 'cancelled', updated_at = {p} WHERE job_id = {p} AND state = 'pending'",
            (now_ms, job_id),
        )
        conn.exec_driver_sql(
            f"UPDATE replay_job SET state = 'cancelled', finished_at = {p} WHERE id = {p}", (now_ms, job_id)
        )
        return int(result.rowcount or 0)


_JOB_COLUMNS = "id, state, created_at, selection, force, concurrency, total, started_at, finished_at, note, heartbeat_at, runner"


def job_view(store: Store, job_id: str) -> JobView | None:
    """A job with its item counts, overall and per endpoint."""
    p = store.dialect.placeholder
    with store.read() as conn:
        row = conn.exec_driver_sql(f"SELECT {_JOB_COLUMNS} FROM replay_job WHERE id = {p}", (job_id,)).first()
        if row is None:
            return None
        counts = conn.exec_driver_sql(
            f"SELECT endpoint_id, state, COUNT(*) FROM replay_item WHERE job_id = {p} GROUP BY endpoint_id, state",
            (job_id,),
        ).fetchall()
    return _view(row, counts)


def list_jobs(store: Store, limit: int = 50) -> list[JobView]:
    """Jobs newest first, with their item counts."""
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT {_JOB_COLUMNS} FROM replay_job ORDER BY created_at DESC, id DESC LIMIT {int(limit)}"
        ).fetchall()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        p = store.dialect.placeholder
        counts = conn.exec_driver_sql(
            f"SELECT job_id, endpoint_id, state, COUNT(*) FROM replay_item WHERE job_id IN ({', '.join(p for _ in ids)}) "
            "GROUP BY job_id, endpoint_id, state",
            tuple(ids),
        ).fetchall()
    by_job: dict[str, list[tuple[Any, ...]]] = {}
    for job_id, endpoint_id, state, n in counts:
        by_job.setdefault(job_id, []).append((endpoint_id, state, n))
    return [_view(r, by_job.get(r[0], [])) for r in rows]


def job_runner(store: Store, job_id: str) -> tuple[str | None, int | None]:
    """Who runs the job and when it last said so."""
    p = store.dialect.placeholder
    with store.read() as conn:
        row = conn.exec_driver_sql(
            f"SELECT runner, heartbeat_at FROM replay_job WHERE id = {p}", (job_id,)
        ).first()
    return (row[0], row[1]) if row else (None, None)


def job_items(store: Store, job_id: str, limit: int = 1000) -> list[tuple[Any, ...]]:
    """(event_id, endpoint_id, state, attempts, last_status_code, last_error) in plan order."""
    p = store.dialect.placeholder
    with store.read() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT event_id, endpoint_id, state, attempts, last_status_code, last_error FROM replay_item "
            f"WHERE job_id = {p} ORDER BY position LIMIT {int(limit)}",
            (job_id,),
        )]  # fmt: skip


def _view(row: Sequence[Any], counts: Sequence[Sequence[Any]]) -> JobView:
    totals: dict[str, int] = {}
    per_endpoint: dict[str, dict[str, int]] = {}
    for endpoint_id, state, n in counts:
        totals[state] = totals.get(state, 0) + int(n)
        per_endpoint.setdefault(endpoint_id, {})[state] = int(n)
    return JobView(
        id=row[0],
        state=JobState(row[1]),
        created_at_ms=row[2],
        selection=row[3],
        force=bool(row[4]),
        concurrency=row[5],
        total=row[6],
        counts=totals,
        endpoints=tuple(EndpointProgress(e, c) for e, c in sorted(per_endpoint.items())),
        started_at_ms=row[7],
        finished_at_ms=row[8],
        note=row[9],
    )
