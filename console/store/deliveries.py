"""Deliveries matching a filter: pages for the explorer, the selection for replay, counts. Keyset paging keeps
every page as cheap as the first, whatever the store's size."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from console.domain.deliveries import DeliveryRow, PageCursor
from console.domain.filters import DeliveryFilter, DeliveryState
from console.store.dialect import Dialect
from console.store.engine import Store
from console.store.where_sql import where_sql

_COLUMNS = (
    "d.event_id, d.endpoint_id, d.event_type, d.attempts, d.successes, d.max_attempt, d.first_attempt_at, "
    "d.last_attempt_at, d.last_outcome, d.last_status_code, d.last_error, d.delivered_at, "
    "e.user_id, e.reward_id, e.amount, e.currency"
)


def filter_clause(dialect: Dialect, flt: DeliveryFilter) -> tuple[str, list[Any]]:
    """The WHERE clause (over `delivery d JOIN event e`) for a filter, with its parameters."""
    p = dialect.placeholder
    clauses: list[str] = []
    params: list[Any] = []

    def among(column: str, values: tuple[Any, ...]) -> None:
        clause, values_params = dialect.in_list(column, values)
        clauses.append(clause)
        params.extend(values_params)

    if flt.since_ms is not None:
        clauses.append(f"d.first_attempt_at >= {p}")
        params.append(flt.since_ms)
    if flt.until_ms is not None:
        clauses.append(f"d.first_attempt_at < {p}")
        params.append(flt.until_ms)
    if flt.endpoint_ids:
        among("d.endpoint_id", flt.endpoint_ids)
    if flt.event_types:
        among("d.event_type", flt.event_types)
    if flt.state is DeliveryState.UNDELIVERED:
        clauses.append("d.delivered_at IS NULL")
    elif flt.state is DeliveryState.DELIVERED:
        clauses.append("d.delivered_at IS NOT NULL")
    elif flt.state is DeliveryState.FAILED:
        clauses.append("d.attempts > d.successes")
    if flt.last_outcomes:
        among("d.last_outcome", tuple(o.value for o in flt.last_outcomes))
    if flt.status_codes:
        among("d.last_status_code", flt.status_codes)
    if flt.event_ids:
        among("d.event_id", flt.event_ids)
    if flt.search:
        clauses.append(f"(d.event_id = {p} OR e.user_id = {p} OR e.reward_id = {p})")
        params.extend([flt.search.strip()] * 3)
    if flt.where:
        content, content_params = where_sql(dialect, flt.where)
        clauses.append(content)
        params.extend(content_params)
    return (" AND ".join(clauses) or "1 = 1"), params


def _row(r: Any) -> DeliveryRow:
    return DeliveryRow(*r)


def page_deliveries(
    store: Store,
    flt: DeliveryFilter,
    *,
    limit: int = 100,
    after: PageCursor | None = None,
    newest_first: bool = True,
    conn: Connection | None = None,
) -> list[DeliveryRow]:
    """One page of deliveries ordered by first attempt (newest first by default), after `after`."""
    p = store.dialect.placeholder
    where, params = filter_clause(store.dialect, flt)
    order = "DESC" if newest_first else "ASC"
    if after is not None:
        op = "<" if newest_first else ">"
        where += (
            f" AND (d.first_attempt_at {op} {p} OR (d.first_attempt_at = {p} AND "
            f"(d.event_id {op} {p} OR (d.event_id = {p} AND d.endpoint_id {op} {p}))))"
        )
        params += [
            after.first_attempt_at_ms,
            after.first_attempt_at_ms,
            after.event_id,
            after.event_id,
            after.endpoint_id,
        ]
    sql = (
        f"SELECT {_COLUMNS} FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE {where} "
        f"ORDER BY d.first_attempt_at {order}, d.event_id {order}, d.endpoint_id {order} LIMIT {int(limit)}"
    )
    if conn is not None:
        return [_row(r) for r in conn.exec_driver_sql(sql, tuple(params))]
    with store.read() as c:
        return [_row(r) for r in c.exec_driver_sql(sql, tuple(params))]


def all_deliveries(
    store: Store, flt: DeliveryFilter, limit: int | None = None, page: int = 5000
) -> list[DeliveryRow]:
    """Every matching delivery, oldest first (the replay order), up to `limit`."""
    rows: list[DeliveryRow] = []
    after: PageCursor | None = None
    while limit is None or len(rows) < limit:
        size = page if limit is None else min(page, limit - len(rows))
        chunk = page_deliveries(store, flt, limit=size, after=after, newest_first=False)
        rows.extend(chunk)
        if len(chunk) < size:
            break
        last = chunk[-1]
        after = PageCursor(last.first_attempt_at_ms, last.event_id, last.endpoint_id)
    return rows


def count_deliveries(store: Store, flt: DeliveryFilter) -> int:
    """How many deliveries match (for "select all N that match")."""
    where, params = filter_clause(store.dialect, flt)
    with store.read() as conn:
        sql = f"SELECT COUNT(*) FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE {where}"
        return int(conn.exec_driver_sql(sql, tuple(params)).scalar_one())
