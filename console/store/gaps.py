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


def find_gaps(store: Store, flt: DeliveryFilter, rules: GapRules, now_ms: int) -> GapReport | None:
    """Counts and the first `rules.limit` of each kind of gap for the filter (its state is ignored); None for a
    store from before the gap state (version 6) opened read-only."""
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
        numbers = {
            r[0]
            for r in conn.exec_driver_sql(
                f"SELECT attempt FROM delivery_attempt WHERE event_id = {p} AND endpoint_id = {p} "
                "AND trigger = 'scheduled'",
                (event_id, endpoint_id),
            )
        }
        missing = tuple(n for n in range(1, int(top)) if n not in numbers)
        found.append(SkippedAttempts(event_id, endpoint_id, int(stored), int(top), missing))
    return count, tuple(found)


def _missing(
    store: Store, conn: Connection, flt: DeliveryFilter, rules: GapRules, settled_before: int
) -> tuple[int, tuple[MissingDelivery, ...]]:
    """Events with a payload and no delivery at an endpoint that has most of the other events of their type
    and tenant first tried in the same hour (and at least `rules.min_received` of them), in the hours the
    window overlaps that ended before `settled_before` (younger events may still be on their way).

    The counts (console.store.gap_counts) give the candidate groups and, unless the filter reaches into
    events (`--where`, search, event ids, outcomes, status codes), the count itself: a group misses
    `events - received` events. Only the hours needed for the list are then read from the deliveries."""
    p = store.dialect.placeholder
    first_hour = 0 if flt.since_ms is None else flt.since_ms // MS_PER_HOUR
    end_hour = settled_before // MS_PER_HOUR
    if flt.until_ms is not None:
        end_hour = min(end_hour, -(-flt.until_ms // MS_PER_HOUR))
    groups = (
        "SELECT t.hour, t.event_type, t.src, r.endpoint_id, r.received, t.events FROM gap_hour_received r"
        " JOIN gap_hour_events t ON t.hour = r.hour AND t.event_type = r.event_type AND t.src = r.src"
        f" WHERE t.hour >= {p} AND t.hour < {p} AND r.received < t.events AND 2 * r.received > t.events - 1"
        f" AND r.received >= {p}"
    )
    group_params: list[Any] = [first_hour, end_hour, rules.min_received]
    for column, values in (("t.event_type", flt.event_types), ("r.endpoint_id", flt.endpoint_ids)):
        if values:
            clause, more = store.dialect.in_list(column, values)
            groups += f" AND {clause}"
            group_params += more
    narrowed = bool(flt.where or flt.search or flt.event_ids or flt.last_outcomes or flt.status_codes)
    per_hour = conn.exec_driver_sql(
        f"SELECT g.hour, SUM(g.events - g.received) FROM ({groups}) g GROUP BY g.hour ORDER BY g.hour",
        tuple(group_params),
    ).fetchall()
    count = 0 if narrowed else sum(int(n) for _, n in per_hour)
    found: list[MissingDelivery] = []
    event_where, event_params = "", list[Any]()
    if narrowed:  # the event must have a delivery the filter holds (its window and endpoints aside)
        where, event_params = filter_clause(
            store.dialect, flt.with_(since_ms=None, until_ms=None, endpoint_ids=(), sources=())
        )
        event_where = (
            " AND EXISTS (SELECT 1 FROM delivery d JOIN event e ON e.event_id = d.event_id"
            f" WHERE d.event_id = p.event_id AND {where})"
        )
    for hour, _n in per_hour:
        if not narrowed and len(found) >= rules.limit:
            break
        rows = _missing_in_hour(store, conn, int(hour), groups, group_params, event_where, event_params)
        if narrowed:
            count += len(rows)
        found.extend(
            MissingDelivery(r[0], r[1], r[2], int(hour) * MS_PER_HOUR, int(r[3]), int(r[4])) for r in rows
        )
    return count, tuple(found[: rules.limit])


def _missing_in_hour(
    store: Store,
    conn: Connection,
    hour: int,
    groups: str,
    group_params: list[Any],
    event_where: str,
    event_params: list[Any],
) -> list[tuple[Any, ...]]:
    """The missing deliveries of one hour's candidate groups, by event id then endpoint: the events placed in
    the hour (first attempt anywhere in it) of the groups' types and tenants, without a delivery there."""
    p = store.dialect.placeholder
    start = hour * MS_PER_HOUR
    sql = (
        f"WITH x AS (SELECT * FROM ({groups}) g0 WHERE g0.hour = {p}),"
        " ev AS (SELECT d.event_id, MIN(d.event_type) AS event_type FROM delivery d"
        f"  WHERE d.first_attempt_at >= {p} AND d.first_attempt_at < {p}"
        "  AND d.event_type IN (SELECT event_type FROM x) GROUP BY d.event_id),"
        " p AS (SELECT ev.event_id, ev.event_type, (SELECT MIN(COALESCE(en.source, '')) FROM delivery d2"
        "  JOIN endpoint en ON en.id = d2.endpoint_id WHERE d2.event_id = ev.event_id) AS src FROM ev"
        "  JOIN event e ON e.event_id = ev.event_id WHERE e.payload IS NOT NULL AND NOT EXISTS"
        f"  (SELECT 1 FROM delivery d3 WHERE d3.event_id = ev.event_id AND d3.first_attempt_at < {p}))"
        " SELECT p.event_id, p.event_type, x.endpoint_id, x.received, x.events FROM p"
        " JOIN x ON x.event_type = p.event_type AND x.src = p.src"
        " WHERE NOT EXISTS (SELECT 1 FROM delivery d4 WHERE d4.event_id = p.event_id"
        f"  AND d4.endpoint_id = x.endpoint_id){event_where} ORDER BY p.event_id, x.endpoint_id"
    )
    params = [*group_params, hour, start, start + MS_PER_HOUR, start, *event_params]
    return [tuple(r) for r in conn.exec_driver_sql(sql, tuple(params))]


def _stuck(
    store: Store, conn: Connection, flt: DeliveryFilter, rules: GapRules, now_ms: int
) -> tuple[int, tuple[StuckDelivery, ...]]:
    """Undelivered, highest attempt number below the maximum tries, last attempt before now - horizon."""
    p = store.dialect.placeholder
    where, params = filter_clause(store.dialect, flt)
    condition = f"{where} AND d.delivered_at IS NULL AND d.last_attempt_at < {p} AND d.max_attempt < {p}"
    all_params = [*params, now_ms - rules.stuck_after_ms, rules.max_tries]
    base = f"FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE {condition}"
    count = int(conn.exec_driver_sql(f"SELECT COUNT(*) {base}", tuple(all_params)).scalar_one())
    rows = conn.exec_driver_sql(
        f"SELECT d.event_id, d.endpoint_id, d.max_attempt, d.last_attempt_at, d.last_outcome {base} "
        f"ORDER BY d.last_attempt_at, d.event_id, d.endpoint_id LIMIT {int(rules.limit)}",
        tuple(all_params),
    ).fetchall()
    return count, tuple(StuckDelivery(r[0], r[1], int(r[2]), int(r[3]), r[4]) for r in rows)
