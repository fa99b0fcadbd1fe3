"""The gap checks of the attempt log (console.domain.gaps): each one's count and its first rows, read from the
state the writers keep (docs/gaps.md), so a check costs what it finds, not what the window holds. The same SQL
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.gaps import GapReport, GapRules, MissingDelivery, SkippedAttempts, StuckDelivery
from console.domain.times import MS_PER_HOUR
from console.store.deliveries import filter_clause
from console.store.engine import Store
from console.store.outstanding import outstanding_sql


def find_gaps(store: Store, flt: DeliveryFilter, rules: GapRules, now_ms: int) -> GapReport | None:
    """Counts and the first `rules.limit` of each kind of gap for the filter (its state is ignored); None for a
    store from before the gap state (version 7) opened read-only."""
    if not store.dialect.gap_state:
        return None
    flt = flt.with_(state=DeliveryState.ANY)
    with store.read() as conn:
        skipped_count, skipped = _skipped(store, conn, flt, rules.limit)
        missing_count, missing = _missing(store, conn, flt, rules, now_ms - rules.in_flight_ms)
        stuck_count, stuck = _stuck(store, conn, flt, rules, now_ms)
    return GapReport(rules, now_ms, skipped_count, skipped, missing_count, missing, stuck_count, stuck)


def _counted(
    conn: Connection, inner: str, params: list[Any], order: str, limit: int
) -> tuple[int, list[tuple[Any, ...]]]:
    """How many rows `inner` has, and the first `limit` of them in `order`: one run of the query (the count is
    a window over the whole result, taken before the LIMIT)."""
    rows = conn.exec_driver_sql(
        f"SELECT g.*, COUNT(*) OVER () FROM ({inner}) g ORDER BY {order} LIMIT {int(limit)}", tuple(params)
    ).fetchall()
    return (int(rows[0][-1]) if rows else 0), [tuple(r)[:-1] for r in rows]


def _skipped(
    store: Store, conn: Connection, flt: DeliveryFilter, limit: int
) -> tuple[int, tuple[SkippedAttempts, ...]]:
    """Deliveries whose scheduled attempt numbers skip: fewer stored than the highest number (kept by the
    writer), read through the partial index that holds only them."""
    p = store.dialect.placeholder
    where, params = filter_clause(store.dialect, flt)
    hint = " INDEXED BY ix_delivery_skipped" if store.dialect.name == "sqlite" else ""
    inner = (
        "SELECT d.event_id, d.endpoint_id, d.scheduled_attempts AS stored, d.scheduled_max AS top,"
        f" d.first_attempt_at AS first_at FROM delivery AS d{hint} JOIN event e ON e.event_id = d.event_id"
        f" WHERE d.scheduled_attempts < d.scheduled_max AND {where}"
    )
    count, rows = _counted(conn, inner, params, "first_at, event_id, endpoint_id", limit)
    found = []
    for event_id, endpoint_id, stored, top, _first in rows:
        numbers = set(
            conn.exec_driver_sql(
                f"SELECT attempt FROM delivery_attempt WHERE event_id = {p} AND endpoint_id = {p} "
                "AND trigger = 'scheduled'",
                (event_id, endpoint_id),
            ).scalars()
        )
        missing = tuple(n for n in range(1, int(top)) if n not in numbers)
        found.append(SkippedAttempts(event_id, endpoint_id, int(stored), int(top), missing))
    return count, tuple(found)


def _missing(
    store: Store, conn: Connection, flt: DeliveryFilter, rules: GapRules, settled_before: int
) -> tuple[int, tuple[MissingDelivery, ...]]:
    """Events with a payload and no delivery at an endpoint that has most of the other events of their type
    and tenant first tried in the same hour (and at least `rules.min_received` of them), in the hours the
    window overlaps. Only events first tried before `settled_before` count, as candidates and as the others:
    younger ones may still be on their way.

    The hours that ended before `settled_before` are judged from the counts (console.store.gap_counts): they
    give the candidate groups and, unless the filter reaches into events (`--where`, search, event ids,
    outcomes, status codes), the count itself, as a group misses `events - received` events; only the hours
    the list needs are read from the deliveries. The hour `settled_before` falls in is read whole."""
    first_hour = 0 if flt.since_ms is None else flt.since_ms // MS_PER_HOUR
    end_ms = settled_before if flt.until_ms is None else min(settled_before, flt.until_ms)
    end_hour = -(-end_ms // MS_PER_HOUR)  # the hours the window overlaps, up to the one settling
    settling = settled_before // MS_PER_HOUR if settled_before % MS_PER_HOUR else None
    p = store.dialect.placeholder
    groups = (
        "SELECT t.hour, t.event_type, t.src, r.endpoint_id, r.received, t.events FROM gap_hour_received r"
        " JOIN gap_hour_events t ON t.hour = r.hour AND t.event_type = r.event_type AND t.src = r.src"
        f" WHERE t.hour >= {p} AND t.hour < {p} AND r.received < t.events AND 2 * r.received > t.events - 1"
        f" AND r.received >= {p}"
    )
    group_params: list[Any] = [first_hour, min(end_hour, settled_before // MS_PER_HOUR), rules.min_received]
    endpoints, endpoint_params = _in(store, "x.endpoint_id", flt.endpoint_ids)
    types, type_params = _in(store, "t.event_type", flt.event_types)
    groups += types
    group_params += type_params
    narrowed = bool(flt.where or flt.search or flt.event_ids or flt.last_outcomes or flt.status_codes)
    event_where, event_params = "", list[Any]()
    if narrowed:  # the event must have a delivery the filter holds (its window and endpoints aside)
        where, event_params = filter_clause(
            store.dialect, flt.with_(since_ms=None, until_ms=None, endpoint_ids=(), sources=())
        )
        event_where = (
            " AND EXISTS (SELECT 1 FROM delivery d JOIN event e ON e.event_id = d.event_id"
            f" WHERE d.event_id = c.event_id AND {where})"
        )
    per_hour = conn.exec_driver_sql(
        f"SELECT x.hour, SUM(x.events - x.received) FROM ({groups}) x WHERE 1 = 1{endpoints}"
        " GROUP BY x.hour ORDER BY x.hour",
        (*group_params, *endpoint_params),
    ).fetchall()
    count = 0 if narrowed else sum(int(n) for _, n in per_hour)
    found: list[tuple[int, tuple[Any, ...]]] = []
    hours = [int(h) for h, _ in per_hour]
    if settling is not None and first_hour <= settling < end_hour:
        hours.append(settling)
    for hour in hours:
        if not narrowed and hour != settling and len(found) >= rules.limit:
            continue
        start = hour * MS_PER_HOUR
        if hour == settling:
            x, x_params = (
                _SETTLING_GROUPS.format(p=p, types=_in(store, "d.event_type", flt.event_types)[0]),
                [
                    start,
                    settled_before,
                    *type_params,
                    start,
                    rules.min_received,
                ],
            )
        else:
            x, x_params = f"SELECT * FROM ({groups}) g0 WHERE g0.hour = {p}", [*group_params, hour]
        until = settled_before if hour == settling else start + MS_PER_HOUR
        rows = conn.exec_driver_sql(
            _MISSING_IN_HOUR.format(p=p, x=x, endpoints=endpoints, events=event_where),
            (*x_params, start, until, *endpoint_params, start, *event_params),
        ).fetchall()
        if narrowed or hour == settling:
            count += len(rows)
        found.extend((hour, tuple(r)) for r in rows)
    return count, tuple(
        MissingDelivery(event_id, event_type, endpoint_id, hour * MS_PER_HOUR, int(received), int(events))
        for hour, (event_id, event_type, endpoint_id, received, events) in found[: rules.limit]
    )


def _in(store: Store, column: str, values: tuple[str, ...]) -> tuple[str, list[Any]]:
    """` AND column IN (...)` and its parameters, or nothing for no values."""
    if not values:
        return "", []
    clause, params = store.dialect.in_list(column, values)
    return f" AND {clause}", params


# The events placed in one hour (their first attempt anywhere in it) with a payload, each with its tenant.
_PLACED = (
    " SELECT ev.event_id, ev.event_type, (SELECT MIN(COALESCE(en.source, '')) FROM delivery d2"
    "  JOIN endpoint en ON en.id = d2.endpoint_id WHERE d2.event_id = ev.event_id) AS src FROM ev"
    "  JOIN event e ON e.event_id = ev.event_id WHERE e.payload IS NOT NULL AND NOT EXISTS"
    "  (SELECT 1 FROM delivery d3 WHERE d3.event_id = ev.event_id AND d3.first_attempt_at < {p})"
)
# The groups of the hour still settling, counted from its events first tried before the settling time.
_SETTLING_GROUPS = (
    "WITH ev AS (SELECT d.event_id, MIN(d.event_type) AS event_type FROM delivery d"
    "  WHERE d.first_attempt_at >= {p} AND d.first_attempt_at < {p}{types} GROUP BY d.event_id),"
    f" p AS ({_PLACED}),"
    " t AS (SELECT event_type, src, COUNT(*) AS events FROM p GROUP BY event_type, src),"
    " r AS (SELECT p.event_type, p.src, d.endpoint_id, COUNT(*) AS received FROM p"
    "  JOIN delivery d ON d.event_id = p.event_id JOIN endpoint en ON en.id = d.endpoint_id"
    "  WHERE COALESCE(en.source, '') = p.src GROUP BY p.event_type, p.src, d.endpoint_id)"
    " SELECT r.event_type, r.src, r.endpoint_id, r.received, t.events FROM r"
    "  JOIN t ON t.event_type = r.event_type AND t.src = r.src"
    "  WHERE r.received < t.events AND 2 * r.received > t.events - 1 AND r.received >= {p}"
)
# One hour's missing deliveries, by event id then endpoint: the events first tried in the hour, of the types of
# its candidate groups `x` (event type, tenant, endpoint, received, events), without a delivery at the group's
# endpoint; then, for those few, the rest of the group's rule: a payload, no earlier attempt, the same tenant.
_MISSING_IN_HOUR = (
    "WITH x AS ({x}),"
    " ev AS (SELECT d.event_id, MIN(d.event_type) AS event_type FROM delivery d"
    "  WHERE d.first_attempt_at >= {p} AND d.first_attempt_at < {p}"
    "  AND d.event_type IN (SELECT event_type FROM x) GROUP BY d.event_id),"
    " c AS MATERIALIZED (SELECT ev.event_id, ev.event_type, x.src, x.endpoint_id, x.received, x.events"
    "  FROM ev JOIN x ON x.event_type = ev.event_type WHERE NOT EXISTS (SELECT 1 FROM delivery d4"
    "  WHERE d4.event_id = ev.event_id AND d4.endpoint_id = x.endpoint_id){endpoints})"
    " SELECT c.event_id, c.event_type, c.endpoint_id, c.received, c.events FROM c"
    " JOIN event e ON e.event_id = c.event_id WHERE e.payload IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM delivery d3 WHERE d3.event_id = c.event_id AND d3.first_attempt_at < {p})"
    " AND (SELECT MIN(COALESCE(en.source, '')) FROM delivery d2 JOIN endpoint en ON en.id = d2.endpoint_id"
    "  WHERE d2.event_id = c.event_id) = c.src{events} ORDER BY c.event_id, c.endpoint_id"
)


def _stuck(
    store: Store, conn: Connection, flt: DeliveryFilter, rules: GapRules, now_ms: int
) -> tuple[int, tuple[StuckDelivery, ...]]:
    """Undelivered, highest attempt number below the maximum tries, last attempt before now - horizon."""
    p = store.dialect.placeholder
    where, params = filter_clause(store.dialect, flt)
    outstanding = outstanding_sql("d", store.dialect)  # a resolved delivery is not stuck
    condition = f"{where} AND {outstanding} AND d.last_attempt_at < {p} AND d.max_attempt < {p}"
    all_params = [*params, now_ms - rules.stuck_after_ms, rules.max_tries]
    base = f"FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE {condition}"
    count = int(conn.exec_driver_sql(f"SELECT COUNT(*) {base}", tuple(all_params)).scalar_one())
    rows = conn.exec_driver_sql(
        f"SELECT d.event_id, d.endpoint_id, d.max_attempt, d.last_attempt_at, d.last_outcome {base} "
        f"ORDER BY d.last_attempt_at, d.event_id, d.endpoint_id LIMIT {int(rules.limit)}",
        tuple(all_params),
    ).fetchall()
    return count, tuple(
        StuckDelivery(event_id, endpoint_id, int(top), int(last_at), outcome)
        for event_id, endpoint_id, top, last_at, outcome in rows
    )
