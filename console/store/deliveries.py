"""Deliveries matching a filter: pages for the explorer, the selection for replay, counts. Keyset paging keeps
every page as cheap as the first, whatever the store's size.

`filter_conditions` is the filter's WHERE over `delivery d` (and `event e`), built on `windows.matching`; every
read query over deliveries takes it from here.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, and_, func, null, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from console.domain.deliveries import DeliveryRow, PageCursor
from console.domain.filters import DeliveryFilter, DeliveryState
from console.store import tables
from console.store.dialect import Dialect
from console.store.engine import Store
from console.store.outstanding import is_resolved, outstanding
from console.store.where_sql import payload_not_json, where_clause
from console.store.windows import matching

D = tables.delivery.alias("d")
E = tables.event.alias("e")  # `e`: what a `--where` expression reads
EP = tables.endpoint

_ROW_COLUMNS = (  # DeliveryRow's order
    "event_id",
    "endpoint_id",
    "event_type",
    "attempts",
    "successes",
    "max_attempt",
    "first_attempt_at",
    "last_attempt_at",
    "last_outcome",
    "last_status_code",
    "last_error",
    "delivered_at",
)
_ROW = (
    *(D.c[name] for name in _ROW_COLUMNS),
    E.c.user_id,
    E.c.reward_id,
    E.c.amount,
    E.c.currency,
)


def filter_conditions(dialect: Dialect, flt: DeliveryFilter) -> list[ColumnElement[bool]]:
    """The filter's conditions over `D` (and `E`, when `needs_event`), every value a bound parameter."""
    conditions = matching(
        D,
        dialect,
        time_column="first_attempt_at",
        since=flt.since_ms,
        until=flt.until_ms,
        endpoint_id=flt.endpoint_ids,
        event_type=flt.event_types,
        last_outcome=tuple(o.value for o in flt.last_outcomes),
        last_status_code=flt.status_codes,
        event_id=flt.event_ids,
    )
    if flt.state is DeliveryState.UNDELIVERED:
        conditions.append(D.c.delivered_at.is_(None) if flt.include_resolved else outstanding(D, dialect))
    elif flt.state is DeliveryState.RESOLVED:
        conditions.append(is_resolved(D, dialect))
    elif flt.state is DeliveryState.DELIVERED:
        conditions.append(D.c.delivered_at.is_not(None))
    elif flt.state is DeliveryState.FAILED:
        conditions.append(D.c.attempts > D.c.successes)
    if flt.include_resolved is False and flt.state is not DeliveryState.UNDELIVERED and dialect.resolutions:
        conditions.append(~is_resolved(D, dialect))
    if flt.search:
        term = flt.search.strip()
        found = [D.c.event_id == term, D.c.endpoint_id == term, E.c.user_id == term, E.c.reward_id == term]
        if dialect.endpoint_source:  # a dispatcher tenant (svix:app_…): its endpoints' deliveries
            found.append(D.c.endpoint_id.in_(select(EP.c.id).where(EP.c.source == term)))
        conditions.append(or_(*found))
    if flt.where:
        conditions.append(where_clause(dialect, flt.where))
    return conditions


def needs_event(flt: DeliveryFilter) -> bool:
    """True when the filter reads the event (search, payload), so `E` must be joined."""
    return bool(flt.search or flt.where)


def with_event() -> FromClause:
    """`delivery d JOIN event e`."""
    return D.join(E, E.c.event_id == D.c.event_id)


def matching_deliveries(
    dialect: Dialect, flt: DeliveryFilter, *columns: Any, event: bool = False
) -> Select[Any]:
    """`SELECT columns FROM delivery d [JOIN event e] WHERE <filter>`; the event is joined when asked or needed."""
    source = with_event() if event or needs_event(flt) else D
    return select(*columns).select_from(source).where(*filter_conditions(dialect, flt))


# Driver SQL for the few queries still written as text (CTEs with MATERIALIZED hints, UNION ALL figures):
# the same conditions, compiled once per call with the store's placeholders.
_COMPILERS = {
    "sqlite": sqlite.dialect(paramstyle="qmark"),
    "postgresql": postgresql.psycopg.dialect(paramstyle="format"),  # type: ignore[no-untyped-call]
}


def filter_clause(dialect: Dialect, flt: DeliveryFilter) -> tuple[str, list[Any]]:
    """`filter_conditions` as driver SQL (over `delivery d JOIN event e`) with its positional parameters."""
    return driver_sql(dialect, filter_conditions(dialect, flt))


def driver_sql(dialect: Dialect, conditions: Sequence[ColumnElement[bool]]) -> tuple[str, list[Any]]:
    """Conditions built with Core, ANDed, as driver SQL with its positional parameters."""
    if not conditions:
        return "1 = 1", []
    compiled = and_(*conditions).compile(
        dialect=_COMPILERS[dialect.name], compile_kwargs={"render_postcompile": True}
    )
    assert compiled.positiontup is not None
    return compiled.string, [compiled.params[name] for name in compiled.positiontup]


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
    keys = (D.c.first_attempt_at, D.c.event_id, D.c.endpoint_id)
    resolved_at = D.c.resolved_at if store.dialect.resolutions else null()
    query = matching_deliveries(store.dialect, flt, *_ROW, resolved_at, event=True)
    if after is not None:  # keyset paging: the rows after `after` in the page order
        past = operator.lt if newest_first else operator.gt
        at, event_id, endpoint_id = after.first_attempt_at_ms, after.event_id, after.endpoint_id
        query = query.where(
            or_(
                past(keys[0], at),
                and_(
                    keys[0] == at,
                    or_(past(keys[1], event_id), and_(keys[1] == event_id, past(keys[2], endpoint_id))),
                ),
            )
        )
    query = query.order_by(*(k.desc() if newest_first else k.asc() for k in keys)).limit(int(limit))
    if conn is not None:
        return [DeliveryRow(*r) for r in conn.execute(query)]
    with store.read() as c:
        return [DeliveryRow(*r) for r in c.execute(query)]


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


def skipped_by_where(store: Store, flt: DeliveryFilter) -> int:
    """How many deliveries the filter would hold but for `--where`, whose payload is not JSON (so no
    expression reads it): the count behind the commands' note."""
    if not flt.where:
        return 0
    conditions = [*filter_conditions(store.dialect, flt.with_(where=None)), payload_not_json(store.dialect)]
    query = select(func.count()).select_from(with_event()).where(*conditions)
    with store.read() as conn:
        return int(conn.execute(query).scalar_one())


def count_deliveries(store: Store, flt: DeliveryFilter) -> int:
    """How many deliveries match (for "select all N that match")."""
    query = matching_deliveries(store.dialect, flt, func.count(), event=True)
    with store.read() as conn:
        return int(conn.execute(query).scalar_one())
