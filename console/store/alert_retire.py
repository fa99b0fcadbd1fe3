"""Retiring what the alerts file no longer names: states of removed rules, notifications of removed channels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import false, func, select

from console.store.alerts import OUTBOX, queue_notifications
from console.store.engine import Store

_CHUNK = 500  # ids per IN list


def outbox_rows_of(store: Store, notification_ids: Sequence[str]) -> list[tuple[str, str, bytes]]:
    """(channel, notification id, body) of every outbox row, sent or not, of these notifications."""
    o = OUTBOX.c
    rows: list[tuple[str, str, bytes]] = []
    with store.read() as conn:
        for start in range(0, len(notification_ids), _CHUNK):
            chunk = list(notification_ids[start : start + _CHUNK])
            query = (
                select(o.channel, o.notification_id, o.body)
                .where(o.notification_id.in_(chunk))
                .order_by(o.seq)
            )
            rows.extend((r.channel, r.notification_id, r.body.encode()) for r in conn.execute(query))
    return rows


def retire_states(
    store: Store,
    keys: Iterable[tuple[str, str]],
    notifications: Iterable[tuple[str, str, bytes]],
    now_ms: int,
) -> None:
    """Remove the (rule, endpoint) states and queue their last notifications, in one transaction."""
    p = store.dialect.placeholder
    key_rows = list(keys)
    with store.write() as conn:
        if key_rows:
            conn.exec_driver_sql(f"DELETE FROM alert_state WHERE rule = {p} AND endpoint_id = {p}", key_rows)
        queue_notifications(conn, p, notifications, now_ms)


def pending_by_channel(store: Store) -> dict[str, int]:
    """How many notifications each channel has waiting."""
    o = OUTBOX.c
    query = select(o.channel, func.count()).where(o.sent_ms.is_(None), o.dead == false()).group_by(o.channel)
    with store.read() as conn:
        return {channel: int(count) for channel, count in conn.execute(query).all()}


def drop_pending(store: Store, channel: str, reason: str, show: int = 5) -> list[str]:
    """Give up on every notification waiting for `channel`, with `reason`; the ids of the first `show`."""
    o = OUTBOX.c
    p = store.dialect.placeholder
    first = (
        select(o.notification_id)
        .where(o.channel == channel, o.sent_ms.is_(None), o.dead == false())
        .order_by(o.seq)
        .limit(show)
    )
    with store.write() as conn:
        ids = list(conn.execute(first).scalars())
        conn.exec_driver_sql(
            f"UPDATE alert_outbox SET dead = {p}, last_error = {p} "
            f"WHERE channel = {p} AND sent_ms IS NULL AND dead = {p}",
            (True, reason[:500], channel, False),
        )
    return ids
