"""Reading rollups for a time window: whole hours from `rollup_hour`, the ragged edges from `rollup_minute`;
and `matching`, the one WHERE builder of the read queries (rollups, failures, attempts, deliveries).

Windows are read at minute resolution: a window's start and end are rounded down to the minute.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, FromClause, select
from sqlalchemy.engine import Connection

from console.domain.times import MS_PER_MINUTE
from console.store.dialect import Dialect, dialect_for
from console.store.rollup import COUNTER_COLUMNS
from console.store.tables import ROLLUPS

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


def matching(
    source: FromClause,
    dialect: Dialect,
    *,
    time_column: str | None = None,
    since: int | None = None,
    until: int | None = None,
    **lists: Sequence[Any],
) -> list[ColumnElement[bool]]:
    """The conditions `since <= time_column < until` (each bound when given) and, for each non-empty list
    keyword, its column of `source` (the keyword's name) among the values (`Dialect.among`: bound parameters)."""
    conditions: list[ColumnElement[bool]] = []
    if time_column is not None and since is not None:
        conditions.append(source.c[time_column] >= since)
    if time_column is not None and until is not None:
        conditions.append(source.c[time_column] < until)
    for name, values in lists.items():
        if values:
            conditions.append(dialect.among(source.c[name], values))
    return conditions


def bucket_window(
    source: FromClause,
    dialect: Dialect,
    since_ms: int,
    until_ms: int,
    width_ms: int,
    endpoint_ids: Sequence[str],
    event_types: Sequence[str],
) -> list[ColumnElement[bool]]:
    """`matching` over the buckets of `width_ms` covering [since, until) (the last partial one included)."""
    return matching(
        source,
        dialect,
        endpoint_id=endpoint_ids,
        event_type=event_types,
        time_column="bucket",
        since=since_ms // width_ms,
        until=-(-until_ms // width_ms),
    )


def rollup_rows(
    conn: Connection,
    since_ms: int | None,
    until_ms: int | None,
    endpoint_ids: Sequence[str] = (),
    event_types: Sequence[str] = (),
) -> Iterator[RollupRow]:
    """The rollup rows covering the window."""
    dialect = dialect_for(conn.dialect.name)
    for span in spans_for(since_ms, until_ms):
        rollup = ROLLUPS[span.table]
        columns = ("bucket", "endpoint_id", "event_type", "trigger", *COUNTER_COLUMNS, "latency_hist")
        query = select(*(rollup.c[name] for name in columns)).where(
            *matching(
                rollup,
                dialect,
                endpoint_id=endpoint_ids,
                event_type=event_types,
                time_column="bucket",
                since=span.start,
                until=span.end,
            )
        )
        for bucket, endpoint_id, event_type, trigger, *counters, hist in conn.execute(query):
            yield RollupRow(span.table, bucket, endpoint_id, event_type, trigger, Counters(*counters), hist)
