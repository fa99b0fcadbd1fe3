"""`report --where`: the charts' sums for the attempts of events whose payload matches an expression.

Rollups hold no payloads, so these come from the attempt and event tables instead (attempt-time index, then each
attempt's event): the database groups the window's matching attempts per minute or hour, endpoint, outcome and
latency bucket, and what reaches Python is one row per group, folded into the rows `aggregates.iter_rollups`
yields and the frame `frames.failures_frame` returns. Memory follows the number of groups, not of attempts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from console.domain.filters import DeliveryFilter
from console.domain.outcomes import error_kind_of
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store import tables
from console.store.deliveries import driver_sql
from console.store.engine import Store
from console.store.rollup import _OUTCOME_SLOT
from console.store.where_sql import where_clause
from console.store.windows import matching

FAILURE_COLUMNS = ["endpoint_id", "status_code", "error_kind", "count"]


def _matching_attempts(
    store: Store, flt: DeliveryFilter, since_ms: int, until_ms: int
) -> tuple[str, list[Any]]:
    """`FROM delivery_attempt a JOIN event e WHERE ...`: the attempts of [since, until) (attempt times) to the
    filter's endpoints, of its event types, whose event matches its `where`."""
    assert flt.where is not None, "a payload filter needs a where expression"
    dialect = store.dialect
    attempt = tables.delivery_attempt.alias("a")
    conditions = matching(
        attempt,
        dialect,
        time_column="attempted_at",
        since=since_ms,
        until=until_ms,
        endpoint_id=flt.endpoint_ids,
        event_type=flt.event_types,
    )
    where_text, params = driver_sql(dialect, [*conditions, where_clause(dialect, flt.where)])
    source = f"FROM delivery_attempt a JOIN event e ON e.event_id = a.event_id WHERE {where_text}"
    return source, params


def iter_matching_buckets(
    store: Store, flt: DeliveryFilter, since_ms: int, until_ms: int, hourly: bool
) -> Iterator[tuple[Any, ...]]:
    """Per minute (or hour) and endpoint, in time order, the matching attempts of [since, until) as
    `aggregates.iter_rollups` gives a rollup row: (bucket start ms, endpoint_id, attempts, successes,
    http_errors, timeouts, network_errors, latency_count, latency histogram as a dict)."""
    width = MS_PER_HOUR if hourly else MS_PER_MINUTE
    source, params = _matching_attempts(store, flt, since_ms, until_ms)
    latency_bucket = store.dialect.latency_bucket("a.latency_ms")
    sql = (
        f"SELECT a.attempted_at / {int(width)} AS b, a.endpoint_id, a.outcome, {latency_bucket} AS lb, COUNT(*), "
        f"COUNT(a.latency_ms) {source} GROUP BY a.attempted_at / {int(width)}, a.endpoint_id, a.outcome, "
        f"{latency_bucket} ORDER BY b, a.endpoint_id"
    )
    current: tuple[int, str] | None = None
    sums: list[Any] = []
    with store.read() as conn:
        result = conn.exec_driver_sql(sql, tuple(params), execution_options={"stream_results": True})
        while rows := result.fetchmany(5000):
            for bucket, endpoint_id, outcome, latency, count, timed in rows:
                key = (int(bucket), endpoint_id)
                if key != current:
                    if current is not None:
                        yield _rollup_row(current, width, sums)
                    current, sums = key, [0, 0, 0, 0, 0, 0, {}]
                sums[0] += count
                sums[_OUTCOME_SLOT[outcome]] += count
                if latency is not None and timed:
                    sums[5] += timed
                    hist = sums[6]
                    hist[int(latency)] = hist.get(int(latency), 0) + timed
    if current is not None:
        yield _rollup_row(current, width, sums)


def _rollup_row(key: tuple[int, str], width: int, sums: list[Any]) -> tuple[Any, ...]:
    """A finished group as iter_rollups yields a rollup row: (bucket start ms, endpoint_id, *sums)."""
    bucket, endpoint_id = key
    return (bucket * width, endpoint_id, *sums)


def matching_failures_frame(store: Store, flt: DeliveryFilter, since_ms: int, until_ms: int) -> pd.DataFrame:
    """Failed matching attempts in the window per endpoint, status code (0: none) and error kind: the frame
    `frames.failures_frame` reads from the failure rollup."""
    source, params = _matching_attempts(store, flt, since_ms, until_ms)
    sql = (
        f"SELECT a.endpoint_id, COALESCE(a.status_code, 0), a.error, COUNT(*) {source} AND a.outcome <> 'success' "
        "GROUP BY a.endpoint_id, COALESCE(a.status_code, 0), a.error"
    )
    counts: dict[tuple[str, int, str], int] = {}
    with store.read() as conn:
        for endpoint_id, status, error, count in conn.exec_driver_sql(sql, tuple(params)):
            key = (endpoint_id, int(status), error_kind_of(error).value)
            counts[key] = counts.get(key, 0) + int(count)
    return pd.DataFrame.from_records(
        [(*key, count) for key, count in sorted(counts.items())], columns=FAILURE_COLUMNS
    )
