"""Alert state and the notification outbox: tables and queries.

`alert_state` holds one row per (rule, endpoint) that has ever been judged; `alert_outbox` one row per
notification and channel, written in the same transaction as the state change that caused it, so a restart
neither repeats a notification nor loses one. A channel takes its rows in `seq` order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import desc, false, func, inspect, select
from sqlalchemy.engine import Connection

from console.domain.alerts import AlertState, AlertStateRow, Backlog, FiringAlert, OutboxItem, ResolvedAlert
from console.domain.times import MS_PER_MINUTE
from console.store import tables
from console.store.engine import Store
from console.store.outstanding import outstanding

STATE = tables.alert_state
OUTBOX = tables.alert_outbox
DELIVERY = tables.delivery
FAILURE_MINUTE = tables.failure_minute
ROLLUP_MINUTE = tables.rollup_minute
_STATE_COLUMNS = ", ".join(c.name for c in STATE.c)
_OUTBOX_QUEUED = ("channel", "notification_id", "body", "created_ms", "next_try_ms", "tries", "dead")


def has_alert_tables(store: Store) -> bool:
    """Whether the store has the alert tables (a store older than schema version 2, read as it is, may not)."""
    with store.read() as conn:
        return all(inspect(conn).has_table(t.name) for t in (STATE, OUTBOX))


def _state(row: Any) -> AlertStateRow:
    return AlertStateRow(
        rule=row.rule,
        endpoint_id=row.endpoint_id,
        state=AlertState(row.state),
        since_ms=row.since_ms,
        changed_ms=int(row.changed_ms),
        notified_ms=row.notified_ms,
        value=row.value,
    )


def load_states(store: Store) -> dict[tuple[str, str], AlertStateRow]:
    """Every stored (rule, endpoint) state."""
    with store.read() as conn:
        rows = conn.execute(select(STATE)).all()
    return {(r.rule, r.endpoint_id): _state(r) for r in rows}


def save_transitions(
    store: Store,
    states: Iterable[AlertStateRow],
    notifications: Iterable[tuple[str, str, bytes]],
    now_ms: int,
) -> None:
    """Write changed states and queue their notifications (channel, notification id, body) in one transaction.

    Driver SQL on this write path: one executemany each for the upsert and the inserts."""
    p = store.dialect.placeholder
    state_rows = [
        (s.rule, s.endpoint_id, s.state.value, s.since_ms, s.changed_ms, s.notified_ms, s.value)
        for s in states
    ]
    outbox_rows = list(notifications)
    if not state_rows and not outbox_rows:
        return
    marks = ", ".join(p for _ in STATE.c)
    upsert = (
        f"INSERT INTO alert_state ({_STATE_COLUMNS}) VALUES ({marks}) ON CONFLICT (rule, endpoint_id) DO UPDATE SET "
        "state = excluded.state, since_ms = excluded.since_ms, changed_ms = excluded.changed_ms, "
        "notified_ms = excluded.notified_ms, value = excluded.value"
    )
    with store.write() as conn:
        if state_rows:
            conn.exec_driver_sql(upsert, state_rows)
        queue_notifications(conn, p, outbox_rows, now_ms)


def queue_notifications(
    conn: Connection, p: str, notifications: Iterable[tuple[str, str, bytes]], now_ms: int
) -> None:
    """Queue (channel, notification id, body) rows in the caller's transaction: one executemany."""
    rows = [(channel, nid, body.decode(), now_ms, now_ms, False) for channel, nid, body in notifications]
    if rows:
        conn.exec_driver_sql(
            f"INSERT INTO alert_outbox ({', '.join(_OUTBOX_QUEUED)}) VALUES ({p}, {p}, {p}, {p}, {p}, 0, {p})",
            rows,
        )


def firing_alerts(store: Store) -> list[FiringAlert]:
    """Every (rule, endpoint) firing now, oldest first: what the console marks and counts."""
    a = STATE.c
    query = (
        select(a.rule, a.endpoint_id, a.since_ms, a.changed_ms, a.value)
        .where(a.state == AlertState.FIRING.value)
        .order_by(a.since_ms, a.rule, a.endpoint_id)
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [
        FiringAlert(
            r.rule, r.endpoint_id, int(r.since_ms if r.since_ms is not None else r.changed_ms), r.value
        )
        for r in rows
    ]


def resolved_alerts(store: Store, since_ms: int) -> list[ResolvedAlert]:
    """Alerts that resolved at or after `since_ms`: endpoints that have recovered, most recent first."""
    a = STATE.c
    query = (
        select(a.rule, a.endpoint_id, a.since_ms, a.changed_ms)
        .where(a.state == AlertState.RESOLVED.value, a.changed_ms >= since_ms)
        .order_by(desc(a.changed_ms), a.rule, a.endpoint_id)
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [ResolvedAlert(r.rule, r.endpoint_id, r.since_ms, int(r.changed_ms)) for r in rows]


def pending_outbox(store: Store, limit: int = 1000, channel: str | None = None) -> list[OutboxItem]:
    """Notifications not yet taken by their channel nor given up on, in queue order: the first `limit` of
    `channel`'s queue (or of every channel's)."""
    o = OUTBOX.c
    query = (
        select(
            o.seq, o.channel, o.notification_id, o.body, o.created_ms, o.tries, o.next_try_ms, o.last_error
        )
        .where(o.sent_ms.is_(None), o.dead == false())
        .order_by(o.seq)
        .limit(limit)
    )
    if channel is not None:
        query = query.where(o.channel == channel)
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [
        OutboxItem(
            int(r.seq),
            r.channel,
            r.notification_id,
            r.body.encode(),
            int(r.created_ms),
            int(r.tries),
            int(r.next_try_ms),
            r.last_error,
        )
        for r in rows
    ]


# The two updates below are driver SQL like every write (`tries = tries + 1` in place, on the write lock).
def mark_sent(store: Store, seq: int, now_ms: int) -> None:
    p = store.dialect.placeholder
    with store.write() as conn:
        conn.exec_driver_sql(
            f"UPDATE alert_outbox SET sent_ms = {p}, tries = tries + 1, last_error = NULL WHERE seq = {p}",
            (now_ms, seq),
        )


def mark_failed(store: Store, seq: int, next_try_ms: int, error: str, dead: bool) -> None:
    """Record a failed try: when to try again, or that the notification is given up on."""
    p = store.dialect.placeholder
    with store.write() as conn:
        conn.exec_driver_sql(
            f"UPDATE alert_outbox SET tries = tries + 1, next_try_ms = {p}, last_error = {p}, dead = {p} "
            f"WHERE seq = {p}",
            (next_try_ms, error[:500], dead, seq),
        )


def backlog_by_endpoint(store: Store) -> dict[str, Backlog]:
    """Every endpoint's outstanding deliveries (undelivered, not resolved) and oldest first attempt, from the
    undelivered index."""
    d = DELIVERY.c
    query = (
        select(d.endpoint_id, func.count(), func.min(d.first_attempt_at))
        .where(outstanding(DELIVERY, store.dialect))
        .group_by(d.endpoint_id)
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    return {endpoint_id: Backlog(endpoint_id, int(count), oldest) for endpoint_id, count, oldest in rows}


def failures_and_successes(
    store: Store, since_ms: int, until_ms: int
) -> tuple[dict[str, tuple[int, int]], dict[str, list[tuple[int, int]]]]:
    """From `since_ms` to `until_ms` (minute resolution, the minute of `until_ms` included): per endpoint,
    (failed attempts, last failure ms) from the failure rollup, and its (minute bucket, successful attempts) from
    the minute rollup. The upper bound keeps a store holding later attempts (a clock set back, a dispatcher's
    clock ahead) from showing a recovery that has not happened yet."""
    minute, last_minute = since_ms // MS_PER_MINUTE, until_ms // MS_PER_MINUTE
    f, r = FAILURE_MINUTE.c, ROLLUP_MINUTE.c
    failed = (
        select(f.endpoint_id, func.sum(f.count), func.max(f.last_at))
        .where(f.bucket >= minute, f.bucket <= last_minute)
        .group_by(f.endpoint_id)
    )
    succeeded = (
        select(r.endpoint_id, r.bucket, func.sum(r.successes))
        .where(r.bucket >= minute, r.bucket <= last_minute)
        .group_by(r.endpoint_id, r.bucket)
        .order_by(r.endpoint_id, r.bucket)
    )
    with store.read() as conn:
        failures = conn.execute(failed).all()
        successes = conn.execute(succeeded).all()
    by_endpoint: dict[str, list[tuple[int, int]]] = {}
    for endpoint_id, bucket, count in successes:
        if count:
            by_endpoint.setdefault(endpoint_id, []).append((int(bucket), int(count)))
    totals = {endpoint_id: (int(count), int(last_at)) for endpoint_id, count, last_at in failures}
    return totals, by_endpoint


def outbox_backlog(store: Store) -> dict[str, tuple[int, int | None]]:
    """Per channel: notifications still waiting (not sent, not given up on) and when the oldest was queued."""
    o = OUTBOX.c
    query = (
        select(o.channel, func.count(), func.min(o.created_ms))
        .where(o.sent_ms.is_(None), o.dead == false())
        .group_by(o.channel)
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    return {channel: (int(count), oldest) for channel, count, oldest in rows}
