"""Ordering anomalies kept at ingest (table `ordering_anomaly`, schema version 10; docs/report.md).

A delivered delivery of an event with a user is an anomaly when an event of the same user that occurred
strictly earlier was delivered at the same endpoint strictly later: it overtook that event. Its row names the
event it overtook: the latest delivered of those, the earliest to occur (then the least event id) among equals.
This is computed over everything the store holds, whatever window a report shows.

Only a delivery that became delivered, or whose delivery time moved earlier, changes anything, so the work is per
batch and follows what the batch delivered, never a user's history:

- the batch's new events are compared among themselves when the batch is prepared (`batch_deliveries`: by the
  parsing process of a bulk ingest);
- before its attempts go in, one read of the attempt-time index finds the stored deliveries delivered since a
  little before its earliest success (`before_write`; in a log read in order, a handful): those a delivery of the
  batch may have overtaken, and, thanks to the lead floor (no stored delivery was delivered earlier than that
  after its event occurred), those that may have overtaken it, unless it occurred long before the batch; for
  those, the user's later events are read (events' (user, time) index);
- a group (endpoint, user) where a stored delivery's time moved earlier, or whose overtaken event is pruned, is
  recomputed from its deliveries, as is every group of a batch whose earliest success is older than many stored
  ones (a log read out of order), where that read would be long.

Rows are written only when an anomaly appears or changes. `recount.verify_derived_state` compares them with a
direct computation from the attempts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import pairwise
from typing import Any, Final, NamedTuple

import orjson
from sqlalchemy.engine import Connection

from console.domain.records import E_OCCURRED_AT_MS, E_USER_ID
from console.store.dialect import Dialect

Pair = tuple[str, str]  # (event_id, endpoint_id)
Group = tuple[str, str]  # (endpoint_id, user_id)

# Reads of the stored deliveries delivered after the batch's earliest: beyond this many successes plus two per
# delivery of the batch, the batch's groups are recomputed instead (a log read out of order).
AFTER_LIMIT = 64
# How far before the batch's earliest success that read starts (at most; no more than the time its successes
# span): a delivery that occurred since then is compared through it alone (see `after_write`).
WINDOW_MS = 60_000
# The meta key of the lead floor: no stored delivered delivery of an event with a user was delivered earlier than
# this many ms after its event occurred (it only goes down; negative when a clock was behind).
FLOOR_KEY = "ordering_lead_floor"

ROW_COLUMNS = (
    "event_id",
    "endpoint_id",
    "user_id",
    "occurred_at",
    "delivered_at",
    "overtook_event_id",
    "overtook_occurred_at",
    "overtook_delivered_at",
)


class Done(NamedTuple):
    """A delivered delivery as the comparison needs it."""

    event_id: str
    endpoint_id: str
    user_id: str
    occurred_at: int
    delivered_at: int


Row = tuple[Any, ...]  # in ROW_COLUMNS' order
R_EVENT: Final = 0  # a row's key: event, endpoint
R_ENDPOINT: Final = 1
M_OCCURRED: Final = 0  # a group member's positions: (occurred, event, delivered)
M_EVENT: Final = 1
M_DELIVERED: Final = 2
P_USER: Final = 0  # an event's (user, occurred)


def _rank(d: Done) -> tuple[int, int, str]:
    """The order in which an overtaken event is chosen: latest delivered, then earliest occurred, least id."""
    return (-d.delivered_at, d.occurred_at, d.event_id)


def _row(d: Done, overtook: Done) -> Row:
    return (
        d.event_id,
        d.endpoint_id,
        d.user_id,
        d.occurred_at,
        d.delivered_at,
        overtook.event_id,
        overtook.occurred_at,
        overtook.delivered_at,
    )


def sweep(group: Iterable[Done]) -> Iterator[Row]:
    """The anomaly rows of one group's delivered deliveries (any order): in occurrence order, each delivery is
    compared with the best of those that occurred strictly before it."""
    ordered = sorted(group, key=lambda d: (d.occurred_at, d.event_id))
    best: Done | None = None
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j].occurred_at == ordered[i].occurred_at:
            j += 1
        level = ordered[i:j]
        if best is not None:
            for d in level:
                if d.delivered_at < best.delivered_at:
                    yield _row(d, best)
        for d in level:
            if best is None or _rank(d) < _rank(best):
                best = d
        i = j


class BatchDeliveries(NamedTuple):
    """What a batch alone says of its deliveries (computed with the batch, by the parsing process of a bulk
    ingest): when each is delivered by the batch's attempts (their earliest success), the least lead (delivery
    minus occurrence) of those of the events it offers with a user, and the anomalies among those alone."""

    delivering: dict[Pair, int] = {}
    lead_floor: int | None = None
    # the anomaly rows among the deliveries of the offered events alone (exact when they are new events)
    among: dict[Pair, Row] = {}


def batch_deliveries(delivering: dict[Pair, int], offered: Mapping[str, Sequence[Any]]) -> BatchDeliveries:
    """`BatchDeliveries` of a batch's deliveries (`delivering`: the earliest success of each) and its offered
    event records (pure)."""
    low: int | None = None
    user_at: Final = E_USER_ID
    occurred_at_at: Final = E_OCCURRED_AT_MS
    # Per group (endpoint, user): its one delivery (occurred, event, delivered), or a list of several.
    groups: dict[Group, Any] = {}
    for (event_id, endpoint_id), at in delivering.items():
        event = offered.get(event_id)
        if event is None or event[user_at] is None:
            continue
        occurred_at = event[occurred_at_at]
        if low is None or at - occurred_at < low:
            low = at - occurred_at
        key = (endpoint_id, event[user_at])
        found = groups.get(key)
        if found is None:
            groups[key] = (occurred_at, event_id, at)
        elif type(found) is list:
            found.append((occurred_at, event_id, at))
        else:
            groups[key] = [found, (occurred_at, event_id, at)]
    among: dict[Pair, Row] = {}
    for (endpoint_id, user_id), found in groups.items():
        if type(found) is list:
            found.sort()
            # delivered in the order they occurred (the common case): none overtook another
            if any(later[M_DELIVERED] < earlier[M_DELIVERED] for earlier, later in pairwise(found)):
                members = [Done(e, endpoint_id, user_id, o, t) for o, e, t in found]
                among.update(((r[R_EVENT], r[R_ENDPOINT]), r) for r in sweep(members))
    return BatchDeliveries(delivering, low, among)


class Before(NamedTuple):
    """What `before_write` read before a batch's attempts went in."""

    floor: int | None  # the stored lead floor (None: no delivered delivery of an event with a user yet)
    cut: int  # the successes read are those after this time
    later: list[Done] | None  # the deliveries they deliver; None when there were too many to read


def before_write(conn: Connection, dialect: Dialect, batch: BatchDeliveries) -> Before | None:
    """Read, before a batch's attempts are inserted, the stored deliveries delivered (at the time of a stored
    success) less than WINDOW_MS before the batch's earliest success or later, through the attempt-time
    index: in a log read in order, those of the last minute. None when the batch delivers nothing."""
    if not batch.delivering:
        return None
    first, last = min(batch.delivering.values()), max(batch.delivering.values())
    cut = first - min(WINDOW_MS, last - first)
    floor, later = _delivered_after(conn, dialect, cut, AFTER_LIMIT + 2 * len(batch.delivering))
    return Before(floor, cut, later)


def after_write(
    conn: Connection,
    dialect: Dialect,
    before: Before,
    batch: BatchDeliveries,
    endpoints: Iterable[str],
    delivered: Mapping[Pair, int],
    moved: set[Pair],
    events: Mapping[str, Sequence[Any]],
    stored_events: Mapping[str, tuple[str | None, int]],
    offered_stored: bool,
) -> None:
    """Bring the anomaly rows up to date after a batch: `delivered` holds the delivery time of each delivery
    the batch delivered or moved earlier (`moved`: those delivered before), `events` the records of the events
    the batch stored, `stored_events` the (user, occurrence) of those it names that were stored before,
    `offered_stored` whether it offered any of those (then `batch.among` may be off), `endpoints` those its
    attempts name, `before` what `before_write` read.

    A delivery the batch delivered is compared with the deliveries of its group delivered after it: among
    `before.later` (they are after the batch's earliest success) and the batch's own. A stored delivery that
    occurred after it and was delivered before it (it may now have overtaken it) has a lead (delivery minus
    occurrence) of at least the stored floor, so it was delivered after the batch's delivery's occurrence plus
    that floor: in `before.later` too when that is after `before.cut`; for the others (deliveries that occurred
    long before the batch: retries, late logs) the user's later events are read (events' (user, time) index).
    The work is per event of the batch, and per delivery only for users with several events in it or with
    stored deliveries to compare.
    """
    if not delivered:
        return
    people: dict[str, tuple[str, int]] = {}
    user_at: Final = E_USER_ID
    occurred_at_at: Final = E_OCCURRED_AT_MS
    for event_id, event in events.items():
        if event[user_at] is not None:
            people[event_id] = (event[user_at], event[occurred_at_at])
    low = batch.lead_floor
    sites = sorted(endpoints)

    def deliveries_of(event_ids: set[str]) -> dict[str, list[tuple[str, int]]]:
        """(endpoint, delivered) of these events' deliveries the batch delivered: by trying each endpoint, or
        when that is more work, by reading every delivery once."""
        found: dict[str, list[tuple[str, int]]] = defaultdict(list)
        if len(event_ids) * len(sites) <= len(delivered):
            for event_id in event_ids:
                for endpoint_id in sites:
                    at = delivered.get((event_id, endpoint_id))
                    if at is not None:
                        found[event_id].append((endpoint_id, at))
        else:
            for (event_id, endpoint_id), at in delivered.items():
                if event_id in event_ids:
                    found[event_id].append((endpoint_id, at))
        return found

    for event_id, (user_id, occurred_at) in stored_events.items():
        if user_id is not None:
            people[event_id] = (user_id, int(occurred_at))
    looked_up = deliveries_of({e for e in stored_events if e in people})
    for event_id, sent in looked_up.items():
        _user_id, occurred_at = people[event_id]
        for _endpoint_id, at in sent:
            if low is None or at - occurred_at < low:
                low = at - occurred_at
    floor = before.floor
    if low is not None and (floor is None or low < floor):
        conn.exec_driver_sql(
            f"INSERT INTO meta (key, value) VALUES ('{FLOOR_KEY}', {dialect.placeholder})"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(low),),
        )
    if before.later is None:  # many stored deliveries after the batch's earliest: recompute its groups
        recompute(conn, dialect, {(x, people[e][P_USER]) for e, x in delivered if e in people})
        return
    by_user: dict[str, list[tuple[int, str]]] = {}
    late: dict[str, int] = {}  # user: the earliest occurrence of those that need the user's later events
    prompt_from = before.cut - floor if floor is not None else None  # occurred since: `before.later` suffices
    for event_id, (user_id, occurred_at) in people.items():
        mine = by_user.get(user_id)
        if mine is None:
            by_user[user_id] = [(occurred_at, event_id)]
        else:
            mine.append((occurred_at, event_id))
        if (
            prompt_from is not None
            and occurred_at < prompt_from
            and late.get(user_id, occurred_at) >= occurred_at
        ):
            late[user_id] = occurred_at
    redo = {(x, people[e][P_USER]) for e, x in moved if e in people}

    def members_of(endpoint_id: str, user_id: str) -> list[tuple[int, str, int]]:
        """The group's deliveries the batch delivered: (occurred, event, delivered)."""
        found = []
        for occurred_at, event_id in by_user.get(user_id, ()):
            at = delivered.get((event_id, endpoint_id))
            if at is not None:
                found.append((occurred_at, event_id, at))
        return found

    # The batch computed its offered events' rows among themselves (`batch.among`) when they are all new; a
    # group that also holds an event stored before, or stored deliveries to compare, is computed here whole.
    rows: dict[Pair, Row] = dict(batch.among) if not offered_stored else {}
    groups: dict[Group, list[tuple[int, str, int]]] = {}
    joined = {people[e][P_USER] for e in looked_up} if not offered_stored else set(by_user)
    several = {
        event_id for user_id in joined if len(by_user[user_id]) > 1 for _o, event_id in by_user[user_id]
    }
    for event_id, sent in deliveries_of(several).items():
        user_id, occurred_at = people[event_id]
        for endpoint_id, at in sent:
            if (endpoint_id, user_id) not in redo:
                groups.setdefault((endpoint_id, user_id), []).append((occurred_at, event_id, at))
    groups = {key: members for key, members in groups.items() if len(members) > 1}
    stored: dict[Group, dict[str, tuple[int, str, int]]] = {}
    for d in (*before.later, *_occurred_after(conn, dialect, late)):
        group_key = (d.endpoint_id, d.user_id)
        if d.user_id in by_user and group_key not in redo and (d.event_id, d.endpoint_id) not in delivered:
            if group_key not in groups:
                members = members_of(d.endpoint_id, d.user_id)
                if not members:
                    continue
                groups[group_key] = members
            stored.setdefault(group_key, {})[d.event_id] = (d.occurred_at, d.event_id, d.delivered_at)
    overtaking: dict[Pair, tuple[Done, Done]] = {}
    for group_key, members in groups.items():
        others = stored.get(group_key)
        endpoint_id, user_id = group_key
        pool = [*members, *(others.values() if others else ())]
        for occurred_at, event_id, at in members:  # each against every delivery delivered after it
            rows.pop((event_id, endpoint_id), None)
            found = [m for m in pool if m[M_OCCURRED] < occurred_at and m[M_DELIVERED] > at]
            if found:
                o, e, t = min(found, key=lambda m: (-m[M_DELIVERED], m[M_OCCURRED], m[M_EVENT]))
                rows[(event_id, endpoint_id)] = (event_id, endpoint_id, user_id, occurred_at, at, e, o, t)
        for occurred_at, event_id, at in others.values() if others else ():  # may now have overtaken one
            found = [m for m in members if m[M_OCCURRED] < occurred_at and m[M_DELIVERED] > at]
            if found:
                o, e, t = min(found, key=lambda m: (-m[M_DELIVERED], m[M_OCCURRED], m[M_EVENT]))
                overtaking[(event_id, endpoint_id)] = (
                    Done(event_id, endpoint_id, user_id, occurred_at, at),
                    Done(e, endpoint_id, user_id, o, t),
                )
    if overtaking:
        kept = {(r[R_EVENT], r[R_ENDPOINT]): r for r in _stored_rows(conn, dialect, sorted(overtaking))}
        for pair, (d, overtook) in overtaking.items():
            old = kept.get(pair)
            if old is not None:
                _e, _x, _u, _o, _t, old_id, old_occurred, old_delivered = old
                named = Done(old_id, d.endpoint_id, d.user_id, int(old_occurred), int(old_delivered))
                if _rank(named) <= _rank(overtook):
                    continue
            rows[pair] = _row(d, overtook)
    _upsert(conn, dialect, list(rows.values()))
    recompute(conn, dialect, redo)


RECOMPUTE_USERS = 200  # users whose groups are recomputed together: memory follows their deliveries


def recompute(conn: Connection, dialect: Dialect, groups: set[Group]) -> None:
    """Recompute the rows of whole groups (endpoint, user) from their delivered deliveries, a few users at a
    time."""
    by_user: dict[str, set[Group]] = defaultdict(set)
    for group in groups:
        by_user[group[1]].add(group)
    users = sorted(by_user)
    for start in range(0, len(users), RECOMPUTE_USERS):
        chunk = users[start : start + RECOMPUTE_USERS]
        _recompute_users(conn, dialect, chunk, set().union(*(by_user[u] for u in chunk)))


def _recompute_users(conn: Connection, dialect: Dialect, users: list[str], groups: set[Group]) -> None:
    members: dict[Group, list[Done]] = defaultdict(list)
    condition, params = dialect.in_list("e.user_id", users)
    for event_id, endpoint_id, user_id, occurred_at, delivered_at in conn.exec_driver_sql(
        "SELECT d.event_id, d.endpoint_id, e.user_id, e.occurred_at, d.delivered_at FROM event e"
        f" JOIN delivery d ON d.event_id = e.event_id WHERE {condition} AND d.delivered_at IS NOT NULL",
        tuple(params),
    ):
        if (endpoint_id, user_id) in groups:
            members[(endpoint_id, user_id)].append(
                Done(event_id, endpoint_id, user_id, int(occurred_at), int(delivered_at))
            )
    wanted = {(r[R_EVENT], r[R_ENDPOINT]): r for group in members.values() for r in sweep(group)}
    pairs = sorted((d.event_id, d.endpoint_id) for group in members.values() for d in group)
    stored = {(r[R_EVENT], r[R_ENDPOINT]): r for r in _stored_rows(conn, dialect, pairs)}
    gone = [pair for pair in stored if pair not in wanted]
    if gone:
        p = dialect.placeholder
        conn.exec_driver_sql(f"DELETE FROM ordering_anomaly WHERE event_id = {p} AND endpoint_id = {p}", gone)
    _upsert(conn, dialect, [r for pair, r in wanted.items() if _plain(stored.get(pair)) != r])


def after_prune(conn: Connection, dialect: Dialect, pairs: Sequence[Pair], keys: str) -> None:
    """After the deliveries `pairs` (which the query `keys` selects) are pruned: their rows go, and the groups of
    rows that named one of them as overtaken are recomputed from the deliveries left."""
    if not pairs:
        return
    conn.exec_driver_sql(f"DELETE FROM ordering_anomaly WHERE (event_id, endpoint_id) IN ({keys})")
    pruned = set(pairs)
    events = sorted({event_id for event_id, _ in pairs})
    affected = {
        (endpoint_id, user_id)
        for overtook, endpoint_id, user_id in _select_in(
            conn,
            dialect,
            "SELECT overtook_event_id, endpoint_id, user_id FROM ordering_anomaly",
            "overtook_event_id",
            events,
        )
        if (overtook, endpoint_id) in pruned
    }
    recompute(conn, dialect, affected)


def fill(conn: Connection, dialect: Dialect) -> None:
    """Compute every row from the stored deliveries (the upgrade to version 10), one group at a time from a
    read ordered by group."""
    conn.exec_driver_sql("DELETE FROM ordering_anomaly")
    result = conn.exec_driver_sql(
        "SELECT d.event_id, d.endpoint_id, e.user_id, e.occurred_at, d.delivered_at FROM delivery d"
        " JOIN event e ON e.event_id = d.event_id WHERE d.delivered_at IS NOT NULL AND e.user_id IS NOT NULL"
        " ORDER BY d.endpoint_id, e.user_id",
        execution_options={"stream_results": True},
    )
    rows: list[Row] = []
    group: list[Done] = []
    for chunk in iter(lambda: result.fetchmany(10_000), []):
        for event_id, endpoint_id, user_id, occurred_at, delivered_at in chunk:
            if group and (group[0].endpoint_id, group[0].user_id) != (endpoint_id, user_id):
                rows.extend(sweep(group))
                group = []
            group.append(Done(event_id, endpoint_id, user_id, int(occurred_at), int(delivered_at)))
    rows.extend(sweep(group))
    result.close()
    _upsert(conn, dialect, rows)
    conn.exec_driver_sql(f"DELETE FROM meta WHERE key = '{FLOOR_KEY}'")
    low = conn.exec_driver_sql(
        "SELECT MIN(d.delivered_at - e.occurred_at) FROM delivery d JOIN event e ON e.event_id = d.event_id"
        " WHERE d.delivered_at IS NOT NULL AND e.user_id IS NOT NULL"
    ).scalar()
    if low is not None:
        conn.exec_driver_sql(
            f"INSERT INTO meta (key, value) VALUES ('{FLOOR_KEY}', {dialect.placeholder})", (str(int(low)),)
        )


def stored(conn: Connection) -> dict[Pair, Row]:
    """Every row as stored, by (event_id, endpoint_id)."""
    found: dict[Pair, Row] = {}
    for e, x, u, o, t, oe, oo, ot in conn.exec_driver_sql(
        f"SELECT {', '.join(ROW_COLUMNS)} FROM ordering_anomaly"
    ):
        found[(e, x)] = (e, x, u, int(o), int(t), oe, int(oo), int(ot))
    return found


def _plain(row: Row | None) -> Row | None:
    """A stored row with its times as int (a driver may return them otherwise)."""
    if row is None:
        return None
    e, x, u, o, t, oe, oo, ot = row
    return (e, x, u, int(o), int(t), oe, int(oo), int(ot))


def _upsert(conn: Connection, dialect: Dialect, rows: Sequence[Row]) -> None:
    if not rows:
        return
    p = dialect.placeholder
    updates = ", ".join(f"{c} = excluded.{c}" for c in ROW_COLUMNS[2:])
    conn.exec_driver_sql(
        f"INSERT INTO ordering_anomaly ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join(p for _ in ROW_COLUMNS)})"
        f" ON CONFLICT (event_id, endpoint_id) DO UPDATE SET {updates}",
        list(rows),
    )


def _stored_rows(conn: Connection, dialect: Dialect, pairs: Sequence[Pair]) -> list[Row]:
    """The stored rows of these deliveries."""
    wanted = set(pairs)
    head = f"SELECT {', '.join(ROW_COLUMNS)} FROM ordering_anomaly"
    events = sorted({event_id for event_id, _ in pairs})
    return [
        r
        for r in _select_in(conn, dialect, head, "event_id", events)
        if (r[R_EVENT], r[R_ENDPOINT]) in wanted
    ]


def _delivered_after(
    conn: Connection, dialect: Dialect, after_ms: int, limit: int
) -> tuple[int | None, list[Done] | None]:
    """The stored lead floor, and the deliveries (of events with a user) delivered after `after_ms`, found
    through a success at that time (attempt-time index); None when more than `limit` successes are stored after
    it. One statement: the floor's row joined with the successes (one row per success, so that the LIMIT tells
    a long read)."""
    p = dialect.placeholder
    sql = (
        "SELECT m.value, a.event_id, a.endpoint_id, e.user_id, e.occurred_at, d.delivered_at FROM (SELECT 1 AS one) o"
        f" LEFT JOIN meta m ON m.key = '{FLOOR_KEY}' LEFT JOIN"
        " (SELECT event_id, endpoint_id, attempted_at FROM delivery_attempt"
        f" WHERE attempted_at > {p} AND outcome = 'success' LIMIT {p}) a ON 1 = 1"
        " LEFT JOIN delivery d ON d.event_id = a.event_id AND d.endpoint_id = a.endpoint_id"
        " AND d.delivered_at = a.attempted_at LEFT JOIN event e ON e.event_id = a.event_id"
    )
    found = conn.exec_driver_sql(sql, (after_ms, limit + 1)).fetchall()
    floor = found[0].value  # every row holds it (`o` has one row)
    if len(found) > limit:
        return (None if floor is None else int(floor)), None
    later = {
        (event_id, endpoint_id): Done(event_id, endpoint_id, user_id, int(occurred_at), int(delivered_at))
        for _floor, event_id, endpoint_id, user_id, occurred_at, delivered_at in found
        if delivered_at is not None and user_id is not None
    }
    return (None if floor is None else int(floor)), list(later.values())


def _occurred_after(conn: Connection, dialect: Dialect, first: Mapping[str, int]) -> list[Done]:
    """The delivered deliveries of each user's events that occurred after the given time (the events'
    (user, time) index, one range per user)."""
    users = sorted(first)
    found: list[Done] = []
    if not users:
        return found
    for start in range(0, len(users), 10_000):
        chunk = users[start : start + 10_000]
        if dialect.name == "postgresql":
            listed = "unnest(%s::text[], %s::bigint[]) AS v(u, o)"
            params: tuple[Any, ...] = (chunk, [first[u] for u in chunk])
            on = "e.user_id = v.u AND e.occurred_at > v.o"
        else:
            listed = "json_each(?) AS v"
            params = (orjson.dumps([[u, first[u]] for u in chunk]).decode(),)
            on = "e.user_id = json_extract(v.value, '$[0]') AND e.occurred_at > json_extract(v.value, '$[1]')"
        for event_id, endpoint_id, user_id, occurred_at, delivered_at in conn.exec_driver_sql(
            f"SELECT d.event_id, d.endpoint_id, e.user_id, e.occurred_at, d.delivered_at FROM {listed}"
            f" JOIN event e ON {on} JOIN delivery d ON d.event_id = e.event_id WHERE d.delivered_at IS NOT NULL",
            params,
        ):
            found.append(Done(event_id, endpoint_id, user_id, int(occurred_at), int(delivered_at)))
    return found


def _select_in(
    conn: Connection, dialect: Dialect, sql_head: str, column: str, values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(values), dialect.max_params):
        condition, params = dialect.in_list(column, values[start : start + dialect.max_params])
        rows.extend(tuple(r) for r in conn.exec_driver_sql(f"{sql_head} WHERE {condition}", tuple(params)))
    return rows
