"""The replay journal: jobs, their items, claims on deliveries, and results written with their attempts.

An item is claimed (its delivery marked with the job and a lease, the item set to `sending`) before its
request goes out, and its result is written with the attempts it made in one transaction. Two jobs never
hold the same delivery: a delivery claimed by a live job waits; one delivered meanwhile is skipped. A runner
renews the leases of the items it holds while it sends them (`renew_claims`), and checks before each try that
a lease it let run out was not taken over. Attempts are numbered when they are written, after the delivery's
highest attempt at that moment, so two jobs' attempts at one delivery never collide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import orjson
from sqlalchemy import Select, insert, inspect, null, select
from sqlalchemy.engine import Connection, Row

from console.domain.records import AttemptRecord
from console.domain.replay import (
    FINAL_ITEM_STATES,
    EndpointProgress,
    FailureReason,
    ItemState,
    JobItem,
    JobOptions,
    JobOrigin,
    JobState,
    JobView,
    PlannedItem,
    ReplaySelection,
)
from console.store import tables
from console.store.dialect import Dialect
from console.store.engine import Store
from console.store.replay_plan import insert_items
from console.store.replay_targets import write_target_attempts
from console.store.writer import write_in_transaction

JOB = tables.replay_job


@dataclass(frozen=True)
class ClaimedItem:
    """An item this runner may send now, until `claim_until` (epoch ms) unless the claim is renewed."""

    event_id: str
    endpoint_id: str
    event_type: str
    payload: bytes
    claim_until: int
    order_key: str | None = None  # "reward:ID", or "user:ID" when the event has no reward id


@dataclass
class ClaimBatch:
    claimed: list[ClaimedItem] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    waiting: int = 0


@dataclass(frozen=True)
class ItemResult:
    """How one item ended and the attempts it made (stored as manual attempts of the job, numbered 1, 2, ...
    here and renumbered after the delivery's highest attempt when written). `pending` gives the item back."""

    event_id: str
    endpoint_id: str
    state: ItemState
    attempts: tuple[AttemptRecord, ...] = ()
    last_status_code: int | None = None
    last_error: str | None = None


def _insert_job(
    conn: Connection,
    store: Store,
    job_id: str,
    selection: str,
    force: bool,
    concurrency: int,
    total: int,
    now_ms: int,
    origin: JobOrigin | None,
    options: JobOptions | None = None,
) -> None:
    o = origin or JobOrigin()
    conn.execute(
        insert(JOB).values(
            id=job_id,
            created_at=now_ms,
            state=JobState.PLANNED.value,
            selection=selection,
            force=force,
            concurrency=concurrency,
            total=total,
            operator=o.operator,
            reason=o.reason,
            target_url=o.target_url,
            target_secret=o.target_secret,
            options=_options_json(options),
        )
    )


def _options_json(options: JobOptions | None) -> str | None:
    return orjson.dumps(asdict(options)).decode() if options is not None else None


def _options(text: str | None) -> JobOptions | None:
    """The stored options; None for a job stored before them (or options this version cannot read)."""
    if not text:
        return None
    try:
        data = orjson.loads(text)
        known = {f.name for f in fields(JobOptions)}
        return JobOptions(**{k: v for k, v in data.items() if k in known})
    except (orjson.JSONDecodeError, TypeError, AttributeError):
        return None


def create_job(
    store: Store,
    job_id: str,
    selection: str,
    force: bool,
    concurrency: int,
    items: Sequence[PlannedItem],
    now_ms: int,
    origin: JobOrigin | None = None,
) -> None:
    """Persist a job of these items: those to send are pending, the others skipped with their reason."""
    with store.write() as conn:
        _insert_job(conn, store, job_id, selection, force, concurrency, len(items), now_ms, origin)
        rows = [
            (
                job_id,
                item.event_id,
                item.endpoint_id,
                position,
                ItemState.SKIPPED.value if item.skip_reason else ItemState.PENDING.value,
                0,
                item.skip_reason,
                now_ms,
            )
            for position, item in enumerate(items)
        ]
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


def create_planned_job(
    store: Store,
    job_id: str,
    described: str,
    selection: ReplaySelection,
    reasons: tuple[str, str, str],
    now_ms: int,
    origin: JobOrigin | None = None,
) -> int:
    """Persist a job of every item its selection holds now, inserted in SQL in plan order (the client never
    holds them; see console.store.replay_plan); returns how many items it has."""
    p = store.dialect.placeholder
    with store.write() as conn:
        options = JobOptions.of(selection, origin.target_url if origin else None)
        _insert_job(
            conn, store, job_id, described, selection.force, selection.concurrency, 0, now_ms, origin, options
        )
        total = insert_items(conn, store, job_id, selection, reasons, now_ms)
        conn.exec_driver_sql(f"UPDATE replay_job SET total = {p} WHERE id = {p}", (total, job_id))
    return total


def set_job_state(
    store: Store,
    job_id: str,
    state: JobState,
    now_ms: int,
    *,
    runner: str | None = None,
    note: str | None = None,
) -> None:
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
    return JobState(row.state) if row else None


def claim_items(
    store: Store,
    job_id: str,
    limit: int,
    lease_ms: int,
    now_ms: int,
    force: bool,
    endpoint_ids: Sequence[str] | None = None,
) -> ClaimBatch:
    """Claim up to `limit` pending items (in plan order) for sending; see the module docstring."""
    p = store.dialect.placeholder
    batch = ClaimBatch()
    only = ""
    params: list[Any] = [job_id]
    if endpoint_ids is not None:
        if not endpoint_ids:
            return batch
        among, listed = store.dialect.in_list("i.endpoint_id", endpoint_ids)
        only = f" AND {among}"
        params += listed
    with store.claim() as conn:
        candidates = conn.exec_driver_sql(
            "SELECT i.event_id, i.endpoint_id, d.event_type, d.delivered_at, d.claim_job, d.claim_until, d.max_attempt "
            "FROM replay_item i JOIN delivery d ON d.event_id = i.event_id AND d.endpoint_id = i.endpoint_id "
            f"WHERE i.job_id = {p} AND i.state = 'pending'{only} ORDER BY i.position LIMIT {int(limit) * 2}"
            f"{store.dialect.skip_locked()}",
            tuple(params),
        ).fetchall()
        claimed: list[tuple[str, str, str]] = []
        skipped: list[tuple[str, str]] = []
        for event_id, endpoint_id, event_type, delivered_at, claim_job, claim_until, _ in candidates:
            if len(claimed) >= limit:
                break
            if delivered_at is not None and not force:
                skipped.append((event_id, endpoint_id))
            elif claim_job not in (None, job_id) and claim_until is not None and claim_until > now_ms:
                batch.waiting += 1
            else:
                claimed.append((event_id, endpoint_id, event_type))
        until = now_ms + lease_ms
        if claimed:
            conn.exec_driver_sql(
                f"UPDATE delivery SET claim_job = {p}, claim_until = {p} WHERE event_id = {p} AND endpoint_id = {p}",
                [(job_id, until, e, ep) for e, ep, _ in claimed],
            )
        _set_items(conn, p, job_id, [(e, ep) for e, ep, _ in claimed], ItemState.SENDING, now_ms)
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
            among, ids = store.dialect.in_list("event_id", sorted({e for e, _, _ in claimed}))
            events = {
                e: (bytes(payload), f"reward:{reward}" if reward else (f"user:{user}" if user else None))
                for e, payload, reward, user in conn.exec_driver_sql(
                    f"SELECT event_id, payload, reward_id, user_id FROM event WHERE {among}", tuple(ids)
                ).fetchall()
            }
            for e, ep, t in claimed:
                payload, order_key = events[e]
                batch.claimed.append(ClaimedItem(e, ep, t, payload, until, order_key))
    return batch


def renew_claims(
    store: Store, job_id: str, keys: Sequence[tuple[str, str]], until_ms: int
) -> set[tuple[str, str]]:
    """Extend this job's claims on `keys` to `until_ms`; returns the keys it still holds (a lease that ran out
    may have been taken by another job, which then keeps it)."""
    if not keys:
        return set()
    p = store.dialect.placeholder
    held: set[tuple[str, str]] = set()
    wanted = set(keys)
    with store.claim() as conn:
        conn.exec_driver_sql(
            f"UPDATE delivery SET claim_until = {p} WHERE event_id = {p} AND endpoint_id = {p} AND claim_job = {p}",
            [(until_ms, e, ep, job_id) for e, ep in sorted(wanted)],
        )
        among, ids = store.dialect.in_list("event_id", sorted({e for e, _ in wanted}))
        rows = conn.exec_driver_sql(
            f"SELECT event_id, endpoint_id FROM delivery WHERE claim_job = {p} AND {among}", (job_id, *ids)
        ).fetchall()
        held.update((e, ep) for e, ep in rows if (e, ep) in wanted)
    return held


def _set_items(
    conn: Any,
    p: str,
    job_id: str,
    keys: Sequence[tuple[str, str]],
    state: ItemState,
    now_ms: int,
    error: str | None = None,
) -> None:
    if not keys:
        return
    conn.exec_driver_sql(
        f"UPDATE replay_item SET state = {p}, updated_at = {p}, last_error = COALESCE({p}, last_error) "
        f"WHERE job_id = {p} AND event_id = {p} AND endpoint_id = {p}",
        [(state.value, now_ms, error, job_id, e, ep) for e, ep in keys],
    )


def record_results(
    store: Store, job_id: str, results: Sequence[ItemResult], now_ms: int, target_url: str | None = None
) -> None:
    """Write finished items with their attempts, and release their claims, in one transaction.

    Attempts are numbered here, after each delivery's highest attempt as stored now (inside the writers' lock),
    so attempts of two jobs at one delivery never share a number. A job sent to another target (`target_url`)
    stores its attempts apart (console.store.replay_targets): the deliveries are left as they were.

    An item already in a final state is left alone: when a connection is cut as the COMMIT goes out, the
    results may be stored though the caller saw an error, and writing them again would add their attempts
    twice."""
    if not results:
        return
    p = store.dialect.placeholder
    with store.write() as conn:
        results = _unrecorded(conn, store.dialect, job_id, results)
        if not results:
            return
        if target_url is not None:
            write_target_attempts(conn, p, job_id, target_url, [a for r in results for a in r.attempts])
        else:
            attempts = _numbered(conn, store.dialect, results)
            if attempts:
                write_in_transaction(conn, store.dialect, attempts)
        conn.exec_driver_sql(
            f"UPDATE replay_item SET state = {p}, attempts = attempts + {p}, last_status_code = {p}, "
            f"last_error = {p}, updated_at = {p} WHERE job_id = {p} AND event_id = {p} AND endpoint_id = {p}",
            [
                (
                    r.state.value,
                    len(r.attempts),
                    r.last_status_code,
                    r.last_error,
                    now_ms,
                    job_id,
                    r.event_id,
                    r.endpoint_id,
                )
                for r in results
            ],
        )
        conn.exec_driver_sql(
            f"UPDATE delivery SET claim_job = NULL, claim_until = NULL "
            f"WHERE event_id = {p} AND endpoint_id = {p} AND claim_job = {p}",
            [(r.event_id, r.endpoint_id, job_id) for r in results],
        )


def _unrecorded(conn: Any, dialect: Dialect, job_id: str, results: Sequence[ItemResult]) -> list[ItemResult]:
    """The results whose item is not final yet (not recorded by an earlier try)."""
    among, ids = dialect.in_list("event_id", sorted({r.event_id for r in results}))
    final = tuple(s.value for s in FINAL_ITEM_STATES)
    done = {
        (e, ep)
        for e, ep, state in conn.exec_driver_sql(
            f"SELECT event_id, endpoint_id, state FROM replay_item WHERE job_id = {dialect.placeholder} AND {among}",
            (job_id, *ids),
        )
        if state in final
    }
    return [r for r in results if (r.event_id, r.endpoint_id) not in done]


def _numbered(conn: Any, dialect: Dialect, results: Sequence[ItemResult]) -> list[AttemptRecord]:
    pairs = {(r.event_id, r.endpoint_id) for r in results if r.attempts}
    if not pairs:
        return []
    highest: dict[tuple[str, str], int] = defaultdict(int)
    among, ids = dialect.in_list("event_id", sorted({e for e, _ in pairs}))
    rows = conn.exec_driver_sql(
        f"SELECT event_id, endpoint_id, max_attempt FROM delivery WHERE {among}", tuple(ids)
    ).fetchall()
    for e, ep, n in rows:
        if (e, ep) in pairs:
            highest[(e, ep)] = int(n or 0)
    numbered: list[AttemptRecord] = []
    for r in results:
        base = highest[(r.event_id, r.endpoint_id)]
        numbered.extend(a._replace(attempt=base + i) for i, a in enumerate(r.attempts, start=1))
    return numbered


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


def _job_select(conn: Connection) -> Select[Any]:
    """Every column of a job; an older store read as it is (not upgraded) lacks the ones added since (who,
    why and where before version 2, the options before version 4): they read as NULL."""
    present = {c["name"] for c in inspect(conn).get_columns(JOB.name)}
    return select(*(c if c.name in present else null().label(c.name) for c in JOB.c))


def job_view(store: Store, job_id: str) -> JobView | None:
    """A job with its item counts, overall and per endpoint."""
    p = store.dialect.placeholder
    with store.read() as conn:
        row = conn.execute(_job_select(conn).where(JOB.c.id == job_id)).first()
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
        newest_first = (JOB.c.created_at.desc(), JOB.c.id.desc())
        rows = conn.execute(_job_select(conn).order_by(*newest_first).limit(limit)).fetchall()
        if not rows:
            return []
        among, ids = store.dialect.in_list("job_id", [r.id for r in rows])
        counts = conn.exec_driver_sql(
            f"SELECT job_id, endpoint_id, state, COUNT(*) FROM replay_item WHERE {among} "
            "GROUP BY job_id, endpoint_id, state",
            tuple(ids),
        ).fetchall()
    by_job: dict[str, list[tuple[Any, ...]]] = {}
    for job_id, endpoint_id, state, n in counts:
        by_job.setdefault(job_id, []).append((endpoint_id, state, n))
    return [_view(r, by_job.get(r.id, [])) for r in rows]


def job_runner(store: Store, job_id: str) -> tuple[str | None, int | None]:
    """Who runs the job and when it last said so."""
    p = store.dialect.placeholder
    with store.read() as conn:
        row = conn.exec_driver_sql(
            f"SELECT runner, heartbeat_at FROM replay_job WHERE id = {p}", (job_id,)
        ).first()
    return (row.runner, row.heartbeat_at) if row else (None, None)


def job_items(store: Store, job_id: str, limit: int = 1000, *, troubled_only: bool = False) -> list[JobItem]:
    """A job's items in plan order, each with the error and status of the last attempt the job made for it
    (`troubled_only`: only those not delivered or skipped)."""
    p = store.dialect.placeholder
    only = " AND i.state NOT IN ('delivered', 'skipped')" if troubled_only else ""
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT i.event_id, i.endpoint_id, i.state, i.attempts, i.last_status_code, i.last_error, "
            "a.status_code, a.error FROM replay_item i LEFT JOIN delivery_attempt a ON a.event_id = i.event_id "
            "AND a.endpoint_id = i.endpoint_id AND a.trigger = 'manual' AND a.attempt = ("
            "SELECT MAX(b.attempt) FROM delivery_attempt b WHERE b.event_id = i.event_id "
            f"AND b.endpoint_id = i.endpoint_id AND b.trigger = 'manual' AND b.replay_job_id = {p}) "
            f"WHERE i.job_id = {p}{only} ORDER BY i.position LIMIT {int(limit)}",
            (job_id, job_id),
        ).fetchall()
    return [
        JobItem(
            e, ep, ItemState(state), int(n or 0), code if code is not None else try_code, error, try_error
        )
        for e, ep, state, n, code, error, try_code, try_error in rows
    ]


def top_reasons(store: Store, job_id: str, limit: int = 5) -> list[FailureReason]:
    """Why a job's items failed, the most common reasons first (each with how many items it ended)."""
    p = store.dialect.placeholder
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT COALESCE(last_error, 'no reason recorded'), COUNT(*) AS n FROM replay_item "
            f"WHERE job_id = {p} AND state = 'failed' GROUP BY COALESCE(last_error, 'no reason recorded') "
            f"ORDER BY n DESC, 1 LIMIT {int(limit)}",
            (job_id,),
        ).fetchall()
    return [FailureReason(reason, int(n)) for reason, n in rows]


def _view(row: Row[Any], counts: Sequence[Sequence[Any]]) -> JobView:
    """A job from its row (read by name) and its item counts."""
    totals: dict[str, int] = {}
    per_endpoint: dict[str, dict[str, int]] = {}
    for endpoint_id, state, n in counts:
        totals[state] = totals.get(state, 0) + int(n)
        per_endpoint.setdefault(endpoint_id, {})[state] = int(n)
    return JobView(
        id=row.id,
        state=JobState(row.state),
        created_at_ms=row.created_at,
        selection=row.selection,
        force=bool(row.force),
        concurrency=row.concurrency,
        total=row.total,
        counts=totals,
        endpoints=tuple(EndpointProgress(e, c) for e, c in sorted(per_endpoint.items())),
        started_at_ms=row.started_at,
        finished_at_ms=row.finished_at,
        note=row.note,
        operator=row.operator,
        reason=row.reason,
        target_url=row.target_url,
        target_secret=row.target_secret,
        options=_options(row.options),
    )
