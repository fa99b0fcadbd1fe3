"""Ordering anomalies kept at ingest (table `ordering_anomaly`, schema version 9; docs/report.md).

A delivered delivery of an event with a user is an anomaly when an event of the same user that occurred
strictly earlier was delivered at the same endpoint strictly later: it overtook that event. Its row names the
event it overtook: the latest delivered of those, the earliest to occur (then the least event id) among equals.
This is computed over everything the store holds, whatever window a report shows.

Only a delivery that became delivered, or whose delivery time moved earlier, changes anything, so the work is per
batch and follows what the batch delivered, never a user's history:

- a delivery the batch delivered is compared with the deliveries of its user and endpoint delivered after it:
  those are among the stored deliveries delivered after the batch's earliest new delivery (one read of the
  attempt-time index; in a log read in order, a handful) and the batch's own;
- the stored deliveries of its user that occurred after it (one read of the events' (user, time) index per user:
  events in flight) may now have overtaken it: their rows are added or moved to the later-delivered event;
- a group (endpoint, user) where a stored delivery's time moved earlier, or whose overtaken event is pruned, is
  recomputed from its deliveries, as is every group of a batch whose earliest delivery is older than many stored
  ones (a log read out of order), where the first read would be long.

Rows are written only when an anomaly appears or changes. `recount.verify_derived_state` compares them with a
direct computation from the attempts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy.engine import Connection

from console.store.dialect import Dialect

Pair = tuple[str, str]  # (event_id, endpoint_id)
Group = tuple[str, str]  # (endpoint_id, user_id)

# Reads of the stored deliveries delivered after the batch's earliest: beyond this many attempts, the batch's
# groups are recomputed instead (a log read out of order).
AFTER_LIMIT = 5000

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


def after_write(
    conn: Connection,
    dialect: Dialect,
    delivered: Mapping[Pair, int],
    moved: set[Pair],
    events: Mapping[str, tuple[str | None, int]],
    before_seq: int,
) -> None:
    """Bring the anomaly rows up to date after a batch: `delivered` holds the delivery time of each delivery
    the batch delivered or moved earlier (`moved`: those delivered before), `events` the (user, occurrence)
    of events the batch stored, `before_seq` the last attempt seq stored before it."""
    if not delivered:
        return
    people = dict(events)
    unknown = sorted({event_id for event_id, _ in delivered if event_id not in people})
    for event_id, user_id, occurred_at in _select_in(
        conn, dialect, "SELECT event_id, user_id, occurred_at FROM event", "event_id", unknown
    ):
        people[event_id] = (user_id, int(occurred_at))
    changed: dict[Pair, Done] = {}
    for (event_id, endpoint_id), at in delivered.items():
        user_id, occurred_at = people[event_id]
        if user_id is not None:
            changed[(event_id, endpoint_id)] = Done(event_id, endpoint_id, user_id, occurred_at, at)
    if not changed:
        return
    redo = {(changed[pair].endpoint_id, changed[pair].user_id) for pair in moved if pair in changed}
    later = _delivered_after(conn, dialect, min(d.delivered_at for d in changed.values()), before_seq)
    if later is None:  # many stored deliveries after the batch's earliest: recompute its groups
        recompute(conn, dialect, {(d.endpoint_id, d.user_id) for d in changed.values()})
        return
    fresh = [d for d in changed.values() if (d.endpoint_id, d.user_id) not in redo]
    by_group: dict[Group, list[Done]] = defaultdict(list)
    for d in fresh:
        by_group[(d.endpoint_id, d.user_id)].append(d)
    candidates: dict[Group, list[Done]] = defaultdict(list)
    for d in later:
        group = (d.endpoint_id, d.user_id)
        if group in by_group and (d.event_id, d.endpoint_id) not in changed:
            candidates[group].append(d)
    rows: list[Row] = []
    for group, batch in by_group.items():
        others = candidates.get(group, [])
        for d in batch:
            found = [
                e for e in (*batch, *others) if e.occurred_at < d.occurred_at and e.delivered_at > d.delivered_at
            ]
            if found:
                rows.append(_row(d, min(found, key=_rank)))
    rows.extend(_overtaking(conn, dialect, by_group, changed))
    _upsert(conn, dialect, rows)
    if redo:
        recompute(conn, dialect, redo)


def _overtaking(
    conn: Connection, dialect: Dialect, by_group: Mapping[Group, list[Done]], changed: Mapping[Pair, Done]
) -> list[Row]:
    """The rows of stored deliveries that occurred after one the batch delivered and were delivered before it:
    each now overtook it, unless its row names an event delivered later still."""
    first: dict[str, int] = {}
    for (_endpoint, user_id), batch in by_group.items():
        earliest = min(d.occurred_at for d in batch)
        first[user_id] = min(first.get(user_id, earliest), earliest)
    if not first:
        return []
    best: dict[Pair, tuple[Done, Done]] = {}
    for d in _occurred_after(conn, dialect, first):
        pair = (d.event_id, d.endpoint_id)
        batch = by_group.get((d.endpoint_id, d.user_id))
        if batch is None or pair in changed:
            continue
        found = [c for c in batch if c.occurred_at < d.occurred_at and c.delivered_at > d.delivered_at]
        if found:
            best[pair] = (d, min(found, key=_rank))
    if not best:
        return []
    stored = {(r[0], r[1]): r for r in _stored_rows(conn, dialect, sorted(best))}
    rows: list[Row] = []
    for pair, (d, overtook) in best.items():
        old = stored.get(pair)
        if old is not None:
            _e, _x, _u, _o, _t, old_id, old_occurred, old_delivered = old
            kept = Done(old_id, d.endpoint_id, d.user_id, int(old_occurred), int(old_delivered))
            if _rank(kept) <= _rank(overtook):
                continue
        rows.append(_row(d, overtook))
    return rows


def recompute(conn: Connection, dialect: Dialect, groups: set[Group]) -> None:
    """Recompute the rows of whole groups (endpoint, user) from their delivered deliveries."""
    if not groups:
        return
    users = sorted({user_id for _endpoint, user_id in groups})
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
    wanted = {(r[0], r[1]): r for group in members.values() for r in sweep(group)}
    pairs = sorted((d.event_id, d.endpoint_id) for group in members.values() for d in group)
    stored = {(r[0], r[1]): r for r in _stored_rows(conn, dialect, pairs)}
    gone = [pair for pair in stored if pair not in wanted]
    if gone:
        p = dialect.placeholder
        conn.exec_driver_sql(f"DELETE FROM ordering_anomaly WHERE event_id = {p} AND endpoint_id = {p}", gone)
    _upsert(conn, dialect, [r for pair, r in wanted.items() if _plain(stored.get(pair)) != r])


def after_prune(conn: Connection, dialect: Dialect, pairs: Sequence[Pair]) -> None:
    """After deliveries are pruned: their rows go, and the groups of rows that named one of them as overtaken
    are recomputed from the deliveries left."""
    if not pairs:
        return
    p = dialect.placeholder
    conn.exec_driver_sql(f"DELETE FROM ordering_anomaly WHERE event_id = {p} AND endpoint_id = {p}", pairs)
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
    """Compute every row from the stored deliveries (the upgrade to version 9), one group at a time from a
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


def stored(conn: Connection) -> dict[Pair, Row]:
    """Every row as stored, by (event_id, endpoint_id)."""
    return {
        (r[0], r[1]): _plain(tuple(r))
        for r in conn.exec_driver_sql(f"SELECT {', '.join(ROW_COLUMNS)} FROM ordering_anomaly")
    }


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
    return [r for r in _select_in(conn, dialect, head, "event_id", events) if (r[0], r[1]) in wanted]


def _delivered_after(conn: Connection, dialect: Dialect, after_ms: int, before_seq: int) -> list[Done] | None:
    """The deliveries (of events with a user) delivered after `after_ms` at the time of a success stored before
    this batch (seq up to `before_seq`; a delivery the batch did not move has one), found through that attempt
    (attempt-time index); None when more than AFTER_LIMIT such successes are stored after it."""
    p = dialect.placeholder
    sql = (  # one row per success (LEFT JOINs), so that the LIMIT tells a long read
        "SELECT a.event_id, a.endpoint_id, e.user_id, e.occurred_at, d.delivered_at FROM"
        " (SELECT event_id, endpoint_id, attempted_at FROM delivery_attempt"
        f" WHERE attempted_at > {p} AND seq <= {p} AND outcome = 'success' LIMIT {p}) a"
        " LEFT JOIN delivery d ON d.event_id = a.event_id AND d.endpoint_id = a.endpoint_id"
        " AND d.delivered_at = a.attempted_at LEFT JOIN event e ON e.event_id = a.event_id"
    )
    found = conn.exec_driver_sql(sql, (after_ms, before_seq, AFTER_LIMIT + 1)).fetchall()
    if len(found) > AFTER_LIMIT:
        return None
    return list(
        {
            (event_id, endpoint_id): Done(event_id, endpoint_id, user_id, int(occurred_at), int(delivered_at))
            for event_id, endpoint_id, user_id, occurred_at, delivered_at in found
            if delivered_at is not None and user_id is not None
        }.values()
    )


def _occurred_after(conn: Connection, dialect: Dialect, first: Mapping[str, int]) -> list[Done]:
    """The delivered deliveries of each user's events that occurred after the given time (the events'
    (user, time) index, one range per user)."""
    users = sorted(first)
    found: list[Done] = []
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
