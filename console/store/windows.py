"""Reading rollups for a time window: whole hours from `rollup_hour`, the ragged edges from `rollup_minute`.

Windows are read at minute resolution: a window's start and end are rounded down to the minute.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection

from console.domain.times import MS_PER_MINUTE
from console.store.dialect import Dialect
from console.store.rollup import COUNTER_COLUMNS

MINUTES_PER_HOUR = 60


class Counters(NamedTuple):
    """A rollup row's counters, in `COUNTER_COLUMNS` order."""

    attempts: int
    successes: int
    http_errors: int
    timeouts: int
    network_errors: int
    first_attempts: int
    first_successes: int
    deliveries: int
    delivered: int
    latency_count: int
    latency_sum: float


assert Counters._fields == COUNTER_COLUMNS, "Counters must name the rollup's counter columns in order"


class RollupRow(NamedTuple):
    """One row of a rollup table, as `rollup_rows` yields it."""

    table: str
    bucket: int
    endpoint_id: str
    event_type: str
    trigger: str
    counters: Counters
    latency_hist: str  # JSON: {bucket: count}


@dataclass(frozen=True)
class Span:
    """A half-open range of buckets [start, end) in one rollup table."""

    table: str
    start: int
    end: int


def spans_for(since_ms: int | None, until_ms: int | None) -> list[Span]:
    """The rollup spans that exactly cover [since, until) at minute resolution; None means unbounded."""
    if since_ms is None and until_ms is None:
        return [Span("rollup_hour", -(2**62), 2**62)]
    start_min = since_ms // MS_PER_MINUTE if since_ms is not None else None
    end_min = (
        -(-until_ms // MS_PER_MINUTE) if until_ms is not None else None
    )  # round up: include the last minute
    if start_min is None:
        assert end_min is not None
        first_full_hour = -(2**62)
        start_min = first_full_hour * MINUTES_PER_HOUR
    else:
        first_full_hour = -(-start_min // MINUTES_PER_HOUR)
    last_full_hour = end_min // MINUTES_PER_HOUR if end_min is not None else 2**62
    if end_min is None:
        end_min = last_full_hour * MINUTES_PER_HOUR
    if first_full_hour >= last_full_hour:
        return [Span("rollup_minute", start_min, end_min)]
    spans = []
    if start_min < first_full_hour * MINUTES_PER_HOUR:
        spans.append(Span("rollup_minute", start_min, first_full_hour * MINUTES_PER_HOUR))
    spans.append(Span("rollup_hour", first_full_hour, last_full_hour))
    if last_full_hour * MINUTES_PER_HOUR < end_min:
        spans.append(Span("rollup_minute", last_full_hour * MINUTES_PER_HOUR, end_min))
    return spans


def filter_sql(
    dialect: Dialect, endpoint_ids: Sequence[str], event_types: Sequence[str]
) -> tuple[str, list[Any]]:
    """`AND endpoint_id IN (...) AND event_type IN (...)` for the non-empty lists, with its parameters."""
    p = dialect.placeholder
    sql = ""
    params: list[Any] = []
    if endpoint_ids:
        sql += f" AND endpoint_id IN ({', '.join(p for _ in endpoint_ids)})"
        params.extend(endpoint_ids)
    if event_types:
        sql += f" AND event_type IN ({', '.join(p for _ in event_types)})"
        params.extend(event_types)
    return sql, params


def rollup_rows(
    conn: Connection,
    dialect: Dialect,
    since_ms: int | None,
    until_ms: int | None,
    endpoint_ids: Sequence[str] = (),
    event_types: Sequence[str] = (),
) -> Iterator[RollupRow]:
    """The rollup rows covering the window."""
    p = dialect.placeholder
    where, params = filter_sql(dialect, endpoint_ids, event_types)
    columns = ", ".join(COUNTER_COLUMNS)
    for span in spans_for(since_ms, until_ms):
        sql = (
            f"SELECT bucket, endpoint_id, event_type, trigger, {columns}, latency_hist FROM {span.table} "
            f"WHERE bucket >= {p} AND bucket < {p}{where}"
        )
        for bucket, endpoint_id, event_type, trigger, *counters, hist in conn.exec_driver_sql(
            sql, (span.start, span.end, *params)
        ):
            yield RollupRow(span.table, bucket, endpoint_id, event_type, trigger, Counters(*counters), hist)
