"""Alert state and the notification outbox: tables and queries.

`alert_state` holds one row per (rule, endpoint) that has ever been judged; `alert_outbox` one row per
notification and channel, written in the same transaction as the state change that caused it, so a restart
neither repeats a notification nor loses one. A channel takes its rows in `seq` order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from console.domain.alerts import AlertState, AlertStateRow, Backlog, FiringAlert, OutboxItem, ResolvedAlert
from console.domain.times import MS_PER_MINUTE
from console.store.engine import Store
from console.store.tables import SEQ_TYPE, _ms


class AlertStateTable(SQLModel, table=True):
    """The state machine of one (rule, endpoint): ok -> pending -> firing -> resolved."""

    __tablename__ = "alert_state"
    rule: str = Field(primary_key=True)
    endpoint_id: str = Field(primary_key=True)
    state: str = "ok"
    since_ms: int | None = _ms(nullable=True)  # type: ignore[assignment]
    changed_ms: int = _ms()  # type: ignore[assignment]
    notified_ms: int | None = _ms(nullable=True)  # type: ignore[assignment]
    value: float | None = None


class AlertOutboxTable(SQLModel, table=True):
    """A notification for one channel; `sent_ms` once the channel took it, `dead` once given up on."""

    __tablename__ = "alert_outbox"
    __table_args__ = (Index("ix_alert_outbox_pending", "channel", "sent_ms", "seq"),)
    seq: int | None = Field(default=None, sa_column=Column(SEQ_TYPE, primary_key=True, autoincrement=True))
    channel: str
    notification_id: str
    body: str
    created_ms: int = _ms()  # type: ignore[assignment]
    tries: int = 0
    next_try_ms: int = _ms()  # type: ignore[assignment]
    sent_ms: int | None = _ms(nullable=True)  # type: ignore[assignment]
    dead: bool = False
    last_error: str | None = None


_TABLES = [AlertStateTable.__table__, AlertOutboxTable.__table__]  # type: ignore[attr-defined]
_STATE_COLUMNS = "rule, endpoint_id, state, since_ms, changed_ms, notified_ms, value"


def ensure_alert_tables(store: Store) -> None:
    """Create the alert tables in a store made before they existed (a no-op when they are there)."""
    with store.write() as conn:
        SQLModel.metadata.create_all(conn, tables=_TABLES)


def _state(row: Sequence[Any]) -> AlertStateRow:
    return AlertStateRow(
        rule=row[0],
        endpoint_id=row[1],
        state=AlertState(row[2]),
        since_ms=row[3],
        changed_ms=int(row[4]),
        notified_ms=row[5],
        value=row[6],
    )


def load_states(store: Store) -> dict[tuple[str, str], AlertStateRow]:
    """Every stored (rule, endpoint) state."""
    with store.read() as conn:
        rows = conn.exec_driver_sql(f"SELECT {_STATE_COLUMNS} FROM alert_state").all()
    return {(r[0], r[1]): _state(r) for r in rows}


def save_transitions(
    store: Store,
    states: Iterable[AlertStateRow],
    notifications: Iterable[tuple[str, str, bytes]],
    now_ms: int,
) -> None:
    """Write changed states and queue their notifications (channel, notification id, body) in one transaction."""
    p = store.dialect.placeholder
    state_rows = [
        (s.rule, s.endpoint_id, s.state.value, s.since_ms, s.changed_ms, s.notified_ms, s.value)
        for s in states
    ]
    outbox_rows = [
        (channel, nid, body.decode(), now_ms, now_ms, False) for channel, nid, body in notifications
    ]
    if not state_rows and not outbox_rows:
        return
    marks = ", ".join(p for _ in range(7))
    upsert = (
        f"INSERT INTO alert_state ({_STATE_COLUMNS}) VALUES ({marks}) ON CONFLICT (rule, endpoint_id) DO UPDATE SET "
        "state = excluded.state, since_ms = excluded.since_ms, changed_ms = excluded.changed_ms, "
        "notified_ms = excluded.notified_ms, value = excluded.value"
    )
    insert = (
        "INSERT INTO alert_outbox (channel, notification_id, body, created_ms, next_try_ms, tries, dead) "
        f"VALUES ({p}, {p}, {p}, {p}, {p}, 0, {p})"
    )
    with store.write() as conn:
        if state_rows:
            conn.exec_driver_sql(upsert, state_rows)
        if outbox_rows:
            conn.exec_driver_sql(insert, outbox_rows)


def firing_alerts(store: Store) -> list[FiringAlert]:
    """Every (rule, endpoint) firing now, oldest first: what the console marks and counts."""
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT rule, endpoint_id, since_ms, changed_ms, value FROM alert_state WHERE state = 'firing' "
            "ORDER BY since_ms, rule, endpoint_id"
        ).all()
    return [FiringAlert(r[0], r[1], int(r[2] if r[2] is not None else r[3]), r[4]) for r in rows]


def resolved_alerts(store: Store, since_ms: int) -> list[ResolvedAlert]:
    """Alerts that resolved at or after `since_ms`: endpoints that have recovered, most recent first."""
    p = store.dialect.placeholder
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT rule, endpoint_id, since_ms, changed_ms FROM alert_state "
            f"WHERE state = 'resolved' AND changed_ms >= {p} ORDER BY changed_ms DESC, rule, endpoint_id",
            (since_ms,),
        ).all()
    return [ResolvedAlert(r[0], r[1], r[2], int(r[3])) for r in rows]


def pending_outbox(store: Store, limit: int = 1000) -> list[OutboxItem]:
    """Notifications not yet taken by their channel nor given up on, in queue order."""
    p = store.dialect.placeholder
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT seq, channel, notification_id, body, created_ms, tries, next_try_ms, last_error "
            f"FROM alert_outbox WHERE sent_ms IS NULL AND dead = {p} ORDER BY seq LIMIT {p}",
            (False, limit),
        ).all()
    return [
        OutboxItem(int(r[0]), r[1], r[2], r[3].encode(), int(r[4]), int(r[5]), int(r[6]), r[7]) for r in rows
    ]


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
    """Every endpoint's undelivered deliveries and oldest first attempt, from the undelivered index."""
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT endpoint_id, COUNT(*), MIN(first_attempt_at) FROM delivery WHERE delivered_at IS NULL "
            "GROUP BY endpoint_id"
        ).all()
    return {r[0]: Backlog(r[0], int(r[1]), r[2]) for r in rows}


def failures_and_successes(
    store: Store, since_ms: int
) -> tuple[dict[str, tuple[int, int]], dict[str, list[tuple[int, int]]]]:
    """Since `since_ms` (minute resolution): per endpoint, (failed attempts, last failure ms) from the failure
    rollup, and its (minute bucket, successful attempts) from the minute rollup."""
    p = store.dialect.placeholder
    minute = since_ms // MS_PER_MINUTE
    with store.read() as conn:
        failures = conn.exec_driver_sql(
            f"SELECT endpoint_id, SUM(count), MAX(last_at) FROM failure_minute WHERE bucket >= {p} GROUP BY endpoint_id",
            (minute,),
        ).all()
        successes = conn.exec_driver_sql(
            "SELECT endpoint_id, bucket, SUM(successes) FROM rollup_minute "
            f"WHERE bucket >= {p} GROUP BY endpoint_id, bucket ORDER BY endpoint_id, bucket",
            (minute,),
        ).all()
    by_endpoint: dict[str, list[tuple[int, int]]] = {}
    for endpoint_id, bucket, count in successes:
        if count:
            by_endpoint.setdefault(endpoint_id, []).append((int(bucket), int(count)))
    return {r[0]: (int(r[1]), int(r[2])) for r in failures}, by_endpoint
