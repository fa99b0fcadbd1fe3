"""The gap checks of the attempt log (console.domain.gaps): each one's count and its first rows, over the
deliveries first tried in the filter's window. The same SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.gaps import GapReport, GapRules, MissingDelivery, SkippedAttempts, StuckDelivery
from console.domain.times import MS_PER_HOUR
from console.store.deliveries import filter_clause
from console.store.engine import Store
from console.store.gaps import _counted  # the count-and-first-rows runner, not the logic under test


def find_gaps(store: Store, flt: DeliveryFilter, rules: GapRules, now_ms: int) -> GapReport:
    """Counts and the first `rules.limit` of each kind of gap for the filter (its state is ignored)."""
    flt = flt.with_(state=DeliveryState.ANY)
    with store.read() as conn:
        skipped_count, skipped = _skipped(store, conn, flt, rules.limit)
        missing_count, missing = _missing(store, conn, flt, rules, now_ms - rules.in_flight_ms)
        stuck_count, stuck = _stuck(store, conn, flt, rules, now_ms)
    return GapReport(rules, now_ms, skipped_count, skipped, missing_count, missing, stuck_count, stuck)


def _skipped(
    store: Store, conn: Connection, flt: DeliveryFilter, limit: int
) -> tuple[int, tuple[SkippedAttempts, ...]]:
    """Deliveries whose scheduled attempt numbers skip: fewer stored than the highest number."""
    p = store.dialect.placeholder
    where, params = filter_clause(store.dialect, flt)
    scheduled = (
        "FROM delivery_attempt a WHERE a.event_id = d.event_id AND a.endpoint_id = d.endpoint_id "
        "AND a.trigger = 'scheduled'"
    )
    # Correlated subqueries: the window's deliveries drive, each reads its own attempts by the natural key.
    inner = (
        "SELECT event_id, endpoint_id, stored, top, first_at FROM ("
        f"  SELECT d.event_id, d.endpoint_id, (SELECT COUNT(DISTINCT a.attempt) {scheduled}) AS stored,"
        f"  (SELECT MAX(a.attempt) {scheduled}) AS top, d.first_attempt_at AS first_at"
        f"  FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE {where} AND d.max_attempt > 1"
        ") s WHERE stored < top"
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
    first tried in the same hour (and at least `rules.min_received` of them). Only events first tried before
    `settled_before` count, as candidates and as the others: younger ones may still be on their way."""
    p = store.dialect.placeholder
    # Events are placed by their first attempt anywhere; every endpoint counts as a candidate, then the
    # filter's endpoints narrow the ones reported.
    where, params = filter_clause(store.dialect, flt.with_(endpoint_ids=()))
    expected_where = ""
    expected_params: list[Any] = []
    if flt.endpoint_ids:
        clause, expected_params = store.dialect.in_list("got.endpoint_id", flt.endpoint_ids)
        expected_where = f" AND {clause}"
    # Each event is compared with the endpoints of its own source (the dispatcher tenant its endpoints belong
    # to: docs/sources.md), so apps or projects sharing a store never expect each other's events.
    source = "COALESCE(en.source, '')" if store.dialect.endpoint_source else "''"
    inner = (
        # MATERIALIZED keeps the window's index in charge on SQLite (else it walks the whole delivery table to
        # group by event id); both stores take the hint (SQLite 3.35+, PostgreSQL 12+).
        "WITH w AS MATERIALIZED ("
        f"  SELECT d.event_id, d.event_type, d.first_attempt_at, {source} AS src FROM delivery d"
        "  JOIN endpoint en ON en.id = d.endpoint_id"
        f"  JOIN event e ON e.event_id = d.event_id WHERE {where} AND e.payload IS NOT NULL),"
        " ev AS (SELECT event_id, MIN(event_type) AS event_type, MIN(src) AS src,"
        f"   MIN(first_attempt_at) / {MS_PER_HOUR} AS hour FROM w GROUP BY event_id"
        f"   HAVING MIN(first_attempt_at) < {p}),"
        " totals AS (SELECT hour, event_type, src, COUNT(*) AS n FROM ev GROUP BY hour, event_type, src),"
        " got AS (SELECT ev.hour, ev.event_type, ev.src, d.endpoint_id, COUNT(*) AS k FROM ev"
        "   JOIN delivery d ON d.event_id = ev.event_id JOIN endpoint en ON en.id = d.endpoint_id"
        f"   WHERE {source} = ev.src GROUP BY ev.hour, ev.event_type, ev.src, d.endpoint_id),"
        " expected AS (SELECT got.hour, got.event_type, got.src, got.endpoint_id, got.k, t.n FROM got"
        "   JOIN totals t ON t.hour = got.hour AND t.event_type = got.event_type AND t.src = got.src"
        f"   WHERE got.k < t.n AND 2 * got.k > t.n - 1 AND got.k >= {p}{expected_where})"
        " SELECT ev.event_id, ev.event_type, x.endpoint_id, ev.hour, x.k, x.n FROM ev"
        " JOIN expected x ON x.hour = ev.hour AND x.event_type = ev.event_type AND x.src = ev.src"
        " WHERE NOT EXISTS (SELECT 1 FROM delivery d2 WHERE d2.event_id = ev.event_id"
        "   AND d2.endpoint_id = x.endpoint_id)"
    )
    all_params = [*params, settled_before, rules.min_received, *expected_params]
    count, rows = _counted(conn, inner, all_params, "hour, event_id, endpoint_id", rules.limit)
    return count, tuple(
        MissingDelivery(r[0], r[1], r[2], int(r[3]) * MS_PER_HOUR, int(r[4]), int(r[5])) for r in rows
    )


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
