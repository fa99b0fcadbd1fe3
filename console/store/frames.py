"""Read-side queries for analytics, reports and exports: small DataFrames and streamed pages. Each reads a window through an
index (rollup buckets, first attempt time, attempt time), never the whole history."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd

from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store.deliveries import filter_clause
from console.store.engine import Store
from console.store.windows import filter_sql


def failures_frame(
    store: Store, since_ms: int, until_ms: int, endpoint_ids: Sequence[str], event_types: Sequence[str]
) -> pd.DataFrame:
    """Failed attempts in the window per endpoint, status code (0: none) and error kind (summed by the database)."""
    p = store.dialect.placeholder
    where, params = filter_sql(store.dialect, endpoint_ids, event_types)
    sql = (
        "SELECT endpoint_id, status_code, error_kind, SUM(count) FROM failure_minute "
        f"WHERE bucket >= {p} AND bucket < {p}{where} GROUP BY endpoint_id, status_code, error_kind "
        "ORDER BY endpoint_id, status_code, error_kind"
    )
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            sql, (since_ms // MS_PER_MINUTE, -(-until_ms // MS_PER_MINUTE), *params)
        ).fetchall()
    return pd.DataFrame.from_records(
        [(r[0], int(r[1]), r[2], int(r[3])) for r in rows],
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
    where, params = filter_clause(store.dialect, flt)
    sql = (
        "SELECT d.event_id, d.endpoint_id, d.event_type, d.attempts, d.successes, d.first_attempt_at, d.delivered_at, "
        "d.delivered_attempt, d.last_outcome, d.last_status_code, d.last_error, e.user_id, e.reward_id, e.amount, "
        f"e.currency, e.occurred_at FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE {where} "
        "ORDER BY d.first_attempt_at, d.event_id, d.endpoint_id"
    )
    with store.read() as conn:
        result = conn.exec_driver_sql(sql, tuple(params), execution_options={"stream_results": True})
        while rows := result.fetchmany(page):
            yield [tuple(r) for r in rows]


def payloads(store: Store, event_ids: Sequence[str]) -> dict[str, bytes]:
    """The stored payload bytes of some events."""
    if not event_ids:
        return {}
    p = store.dialect.placeholder
    ids = list(dict.fromkeys(event_ids))
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT event_id, payload FROM event WHERE event_id IN ({', '.join(p for _ in ids)})", tuple(ids)
        ).fetchall()
    return {r[0]: bytes(r[1]) if r[1] is not None else b"" for r in rows}


ATTEMPT_EXPORT_COLUMNS = [
    "seq",
    "event_id",
    "event_type",
    "endpoint_id",
    "attempt",
    "attempted_at",
    "status_code",
    "latency_ms",
    "outcome",
    "error",
    "trigger",
    "replay_job_id",
    "user_id",
    "reward_id",
    "amount",
    "currency",
    "payload",
]


def iter_attempts(store: Store, flt: DeliveryFilter, page: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
    """Attempts in the window with their event's fields and payload, page by page in attempt-time order
    (keyset paging on the attempt-time index)."""
    p = store.dialect.placeholder
    clauses: list[str] = []
    params: list[Any] = []
    if flt.since_ms is not None:
        clauses.append(f"a.attempted_at >= {p}")
        params.append(flt.since_ms)
    if flt.until_ms is not None:
        clauses.append(f"a.attempted_at < {p}")
        params.append(flt.until_ms)
    for column, values in (
        ("a.endpoint_id", flt.endpoint_ids),
        ("a.event_type", flt.event_types),
        ("a.status_code", flt.status_codes),
    ):
        if values:
            clauses.append(f"{column} IN ({', '.join(p for _ in values)})")
            params.extend(values)
    where = " AND ".join(clauses) or "1 = 1"
    after: tuple[int, int] | None = None
    while True:
        keyset = ""
        extra: tuple[Any, ...] = ()
        if after is not None:
            keyset = f" AND (a.attempted_at > {p} OR (a.attempted_at = {p} AND a.seq > {p}))"
            extra = (after[0], after[0], after[1])
        sql = (
            "SELECT a.seq, a.event_id, a.event_type, a.endpoint_id, a.attempt, a.attempted_at, a.status_code, "
            "a.latency_ms, a.outcome, a.error, a.trigger, a.replay_job_id, e.user_id, e.reward_id, e.amount, "
            f"e.currency, e.payload FROM delivery_attempt a JOIN event e ON e.event_id = a.event_id "
            f"WHERE {where}{keyset} ORDER BY a.attempted_at, a.seq LIMIT {int(page)}"
        )
        with store.read() as conn:
            rows = [tuple(r) for r in conn.exec_driver_sql(sql, (*params, *extra))]
        if not rows:
            return
        yield rows
        after = (rows[-1][5], rows[-1][0])
        if len(rows) < page:
            return


def data_bounds(store: Store) -> tuple[int | None, int | None]:
    """The first and last attempt times in the store (hour rollups: cheap)."""
    with store.read() as conn:
        row = conn.exec_driver_sql("SELECT MIN(bucket), MAX(bucket) FROM rollup_hour").first()
    if row is None or row[0] is None:
        return None, None
    return row[0] * MS_PER_HOUR, (row[1] + 1) * MS_PER_HOUR
