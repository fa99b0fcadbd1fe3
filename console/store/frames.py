"""Read-side queries for analytics, reports and exports: small DataFrames and streamed pages. Each reads a window through an
index (rollup buckets, first attempt time, attempt time), never the whole history."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, or_, select

from console.domain.filters import DeliveryFilter
from console.domain.records import ATTEMPT_EXPORT_ATTEMPT_COLUMNS, ATTEMPT_EXPORT_EVENT_COLUMNS
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store import tables
from console.store.deliveries import D, E, matching_deliveries
from console.store.engine import Store
from console.store.where_sql import where_clause
from console.store.windows import bucket_window, matching


def failures_frame(
    store: Store, since_ms: int, until_ms: int, endpoint_ids: Sequence[str], event_types: Sequence[str]
) -> pd.DataFrame:
    """Failed attempts in the window per endpoint, status code (0: none) and error kind (summed by the database)."""
    f = tables.failure_minute
    where = bucket_window(f, store.dialect, since_ms, until_ms, MS_PER_MINUTE, endpoint_ids, event_types)
    groups = (f.c.endpoint_id, f.c.status_code, f.c.error_kind)
    query = select(*groups, func.sum(f.c.count)).where(*where).group_by(*groups).order_by(*groups)
    with store.read() as conn:
        rows = conn.execute(query).fetchall()
    return pd.DataFrame.from_records(
        [(endpoint_id, int(code), kind, int(count)) for endpoint_id, code, kind, count in rows],
        columns=["endpoint_id", "status_code", "error_kind", "count"],
    )


DELIVERY_FRAME_COLUMNS = [
    "event_id",
    "endpoint_id",
    "event_type",
    "attempts",
    "successes",
    "first_attempt_at",
    "delivered_at",
    "delivered_attempt",
    "last_outcome",
    "last_status_code",
    "last_error",
    "user_id",
    "reward_id",
    "amount",
    "currency",
    "occurred_at",
]


def iter_deliveries(store: Store, flt: DeliveryFilter, page: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
    """Deliveries first tried in the filter's window, with their event's fields (DELIVERY_FRAME_COLUMNS), page
    by page in first-attempt order: streamed, so an export's memory does not grow with the window."""
    columns = (
        *(D.c[name] for name in DELIVERY_FRAME_COLUMNS[:11]),
        *(E.c[n] for n in DELIVERY_FRAME_COLUMNS[11:]),
    )
    query = matching_deliveries(store.dialect, flt, *columns, event=True).order_by(
        D.c.first_attempt_at, D.c.event_id, D.c.endpoint_id
    )
    with store.read() as conn:
        result = conn.execute(query, execution_options={"stream_results": True})
        while rows := result.fetchmany(page):
            yield [tuple(r) for r in rows]


def payloads(store: Store, event_ids: Sequence[str]) -> dict[str, bytes]:
    """The stored payload bytes of some events."""
    if not event_ids:
        return {}
    event = tables.event
    ids = list(dict.fromkeys(event_ids))
    query = select(event.c.event_id, event.c.payload).where(event.c.event_id.in_(ids))
    with store.read() as conn:
        rows = conn.execute(query).fetchall()
    return {event_id: bytes(payload) if payload is not None else b"" for event_id, payload in rows}


# The attempts export's columns (console/domain/records.py declares them): the attempt table's, then the event's.
ATTEMPT_EXPORT_COLUMNS = [*ATTEMPT_EXPORT_ATTEMPT_COLUMNS, *ATTEMPT_EXPORT_EVENT_COLUMNS]
_EXPORT_SEQ = ATTEMPT_EXPORT_COLUMNS.index("seq")
_EXPORT_ATTEMPTED_AT = ATTEMPT_EXPORT_COLUMNS.index("attempted_at")


def iter_attempts(store: Store, flt: DeliveryFilter, page: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
    """Attempts in the window with their event's fields and payload, page by page in attempt-time order
    (keyset paging on the attempt-time index)."""
    a = tables.delivery_attempt
    e = tables.event.alias("e")  # `e`: what --where reads
    where = matching(
        a,
        store.dialect,
        endpoint_id=flt.endpoint_ids,
        event_type=flt.event_types,
        status_code=flt.status_codes,
        time_column="attempted_at",
        since=flt.since_ms,
        until=flt.until_ms,
    )
    content = [where_clause(store.dialect, flt.where)] if flt.where else []
    query = (
        select(
            *(a.c[name] for name in ATTEMPT_EXPORT_ATTEMPT_COLUMNS),
            *(e.c[name] for name in ATTEMPT_EXPORT_EVENT_COLUMNS),
        )
        .select_from(a.join(e, e.c.event_id == a.c.event_id))
        .order_by(a.c.attempted_at, a.c.seq)
        .limit(page)
    )
    after: tuple[int, int] | None = None
    while True:
        keyset = []
        if after is not None:  # keyset paging: the rows after the last one sent
            at, seq = after
            keyset.append(or_(a.c.attempted_at > at, and_(a.c.attempted_at == at, a.c.seq > seq)))
        with store.read() as conn:
            rows = [tuple(r) for r in conn.execute(query.where(*where, *content, *keyset))]
        if not rows:
            return
        yield rows
        after = (rows[-1][_EXPORT_ATTEMPTED_AT], rows[-1][_EXPORT_SEQ])
        if len(rows) < page:
            return


def data_bounds(store: Store) -> tuple[int | None, int | None]:
    """The first and last attempt times in the store (hour rollups: cheap)."""
    with store.read() as conn:
        bucket = tables.rollup_hour.c.bucket
        first, last = conn.execute(select(func.min(bucket), func.max(bucket))).one()
    if first is None:
        return None, None
    return first * MS_PER_HOUR, (last + 1) * MS_PER_HOUR
