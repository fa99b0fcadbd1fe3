"""The missing-delivery check's counts, kept by every write that changes an event's deliveries (docs/gaps.md).

An event is placed in the UTC hour of its first attempt anywhere, under its type and its tenant (the least
`endpoint.source` of the endpoints it went to, '' for none). `gap_hour_events` counts the events with a payload
of each (hour, type, tenant); `gap_hour_received` counts, of those, the ones with a delivery at each endpoint of
that tenant. The check then reads these small tables: an endpoint short of its group's events is a candidate,
and `events - received` is how many events it misses there.

A write that may move events (new deliveries, an earlier attempt, pruned deliveries, a relabelled endpoint)
takes the events' contributions before it, writes, takes them again and adds the difference: the counts stay
what a recount from the attempts gives (`recount.gap_counts_recounted`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from console.domain.times import MS_PER_HOUR
from console.store.dialect import Dialect

# (hour, event_type, src, endpoint_id): endpoint_id '' is the group's event count, any other its received.
GroupKey = tuple[int, str, str, str]
EVENTS = ""  # the endpoint_id of a group's event count in a `Counter` of contributions

# Each event of the selection once: its hour, type and tenant (a CTE `ev` over deliveries matching {condition}).
_EV_SQL = (
    "WITH ev AS (SELECT d.event_id, MIN(d.event_type) AS event_type,"
    f" MIN(d.first_attempt_at) / {MS_PER_HOUR} AS hour, MIN(COALESCE(en.source, '')) AS src"
    " FROM delivery d JOIN endpoint en ON en.id = d.endpoint_id"
    " WHERE {condition} AND EXISTS (SELECT 1 FROM event e WHERE e.event_id = d.event_id"
    " AND e.payload IS NOT NULL) GROUP BY d.event_id)"
)
_EVENTS_SQL = "SELECT hour, event_type, src, COUNT(*) FROM ev GROUP BY hour, event_type, src"
_RECEIVED_SQL = (
    "SELECT ev.hour, ev.event_type, ev.src, d.endpoint_id, COUNT(*) FROM ev"
    " JOIN delivery d ON d.event_id = ev.event_id JOIN endpoint en ON en.id = d.endpoint_id"
    " WHERE COALESCE(en.source, '') = ev.src GROUP BY ev.hour, ev.event_type, ev.src, d.endpoint_id"
)
_CONTRIBUTIONS_SQL = (
    f"{_EV_SQL} SELECT hour, event_type, src, '', COUNT(*) FROM ev GROUP BY hour, event_type, src"
    f" UNION ALL {_RECEIVED_SQL}"
)


def contributions(conn: Connection, condition: str, params: Sequence[Any]) -> Counter[GroupKey]:
    """What the events whose deliveries match `condition` (driver SQL over `delivery d`) add to the counts,
    as they are stored now; grouped by the database, so its size is the groups', not the events'."""
    found: Counter[GroupKey] = Counter()
    for hour, event_type, src, endpoint_id, n in conn.exec_driver_sql(
        _CONTRIBUTIONS_SQL.format(condition=condition), tuple(params)
    ):
        found[(int(hour), event_type, src, endpoint_id)] += int(n)
    return found


def of_events(conn: Connection, dialect: Dialect, event_ids: Sequence[str]) -> Counter[GroupKey]:
    """`contributions` of the given events."""
    if not event_ids:
        return Counter()
    condition, params = dialect.in_list("d.event_id", event_ids)
    return contributions(conn, condition, params)


def of_endpoints(conn: Connection, dialect: Dialect, endpoint_ids: Sequence[str]) -> Counter[GroupKey]:
    """`contributions` of every event with a delivery at one of the endpoints (a relabelled tenant)."""
    if not endpoint_ids:
        return Counter()
    inner, params = dialect.in_list("endpoint_id", endpoint_ids)
    return contributions(conn, f"d.event_id IN (SELECT event_id FROM delivery WHERE {inner})", params)


def apply(conn: Connection, dialect: Dialect, before: Counter[GroupKey], after: Counter[GroupKey]) -> None:
    """Move the counts from `before` to `after` (the same events' contributions around a write)."""
    delta = Counter(after)
    delta.subtract(before)
    changed = [(key, n) for key, n in delta.items() if n]
    if not changed:
        return
    p = dialect.placeholder
    events = [(h, t, s, n) for (h, t, s, e), n in changed if e == EVENTS]
    received = [(h, t, s, e, n) for (h, t, s, e), n in changed if e != EVENTS]
    if events:
        conn.exec_driver_sql(
            f"INSERT INTO gap_hour_events (hour, event_type, src, events) VALUES ({p}, {p}, {p}, {p}) "
            "ON CONFLICT (hour, event_type, src) DO UPDATE SET events = gap_hour_events.events + excluded.events",
            events,
        )
        conn.exec_driver_sql("DELETE FROM gap_hour_events WHERE events = 0")
    if received:
        conn.exec_driver_sql(
            "INSERT INTO gap_hour_received (hour, event_type, src, endpoint_id, received) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (hour, event_type, src, endpoint_id) "
            "DO UPDATE SET received = gap_hour_received.received + excluded.received",
            received,
        )
        conn.exec_driver_sql("DELETE FROM gap_hour_received WHERE received = 0")


def stored(conn: Connection) -> Counter[GroupKey]:
    """The counts as stored, in `contributions`' shape."""
    found: Counter[GroupKey] = Counter()
    for hour, event_type, src, n in conn.exec_driver_sql(
        "SELECT hour, event_type, src, events FROM gap_hour_events"
    ):
        found[(int(hour), event_type, src, EVENTS)] = int(n)
    for hour, event_type, src, endpoint_id, n in conn.exec_driver_sql(
        "SELECT hour, event_type, src, endpoint_id, received FROM gap_hour_received"
    ):
        found[(int(hour), event_type, src, endpoint_id)] = int(n)
    return found


def fill(conn: Connection) -> None:
    """Count every stored event (a store upgraded to the counts): one grouped `INSERT ... SELECT` per table."""
    conn.exec_driver_sql("DELETE FROM gap_hour_events")
    conn.exec_driver_sql("DELETE FROM gap_hour_received")
    ev = _EV_SQL.format(condition="1 = 1")
    conn.exec_driver_sql(f"INSERT INTO gap_hour_events (hour, event_type, src, events) {ev} {_EVENTS_SQL}")
    conn.exec_driver_sql(
        f"INSERT INTO gap_hour_received (hour, event_type, src, endpoint_id, received) {ev} {_RECEIVED_SQL}"
    )
