"""The backlog's counts per bucket from the rollups (what enters the backlog: `deliveries`, in the bucket of a
delivery's first attempt) and `closed_minute`/`closed_hour` (what leaves it, console.store.closed_counts): read per
bucket, so the report's backlog chart costs what the window's buckets cost, not its deliveries or attempts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store import tables
from console.store.dialect import dialect_for
from console.store.windows import bucket_window, spans_for


def grain_of(since_ms: int, until_ms: int, bucket_ms: int) -> str | None:
    """The rollup table whose buckets fall whole into a window's buckets (every bound a whole hour: the hours;
    a whole minute: the minutes), or None."""
    for table, width in (("rollup_hour", MS_PER_HOUR), ("rollup_minute", MS_PER_MINUTE)):
        if since_ms % width == 0 and until_ms % width == 0 and bucket_ms % width == 0:
            return table
    return None


_WIDTH = {"rollup_minute": MS_PER_MINUTE, "rollup_hour": MS_PER_HOUR}


def window_counts(
    conn: Connection,
    table: str,
    since_ms: int,
    until_ms: int,
    bucket_ms: int,
    endpoint_ids: Sequence[str],
    event_types: Sequence[str],
) -> tuple[dict[int, int], dict[int, int]]:
    """Per window bucket index of [since, until) at the grain of the rollup `table` (`grain_of`): deliveries first
    tried in it (the rollups' `deliveries`), and those leaving the backlog in it (delivered, or pruned)."""
    dialect = dialect_for(conn.dialect.name)
    width = _WIDTH[table]
    rollup, closed_table = tables.ROLLUPS[table], tables.CLOSED[table]
    counted: list[dict[int, int]] = []
    for source, value in (
        (rollup, rollup.c.deliveries),
        (closed_table, closed_table.c.closed + closed_table.c.pruned),
    ):
        where = bucket_window(
            source, dialect, since_ms // width, until_ms // width, 1, endpoint_ids, event_types
        )
        query = select(source.c.bucket, func.sum(value)).where(*where).group_by(source.c.bucket)
        per_bucket: dict[int, int] = {}
        for bucket, n in conn.execute(query):
            if n:
                b = (int(bucket) * width - since_ms) // bucket_ms
                per_bucket[b] = per_bucket.get(b, 0) + int(n)
        counted.append({b: n for b, n in per_bucket.items() if n})
    opened, closed = counted
    return opened, closed


def delivered_late(
    conn: Connection, since_ms: int, endpoint_ids: Sequence[str], event_types: Sequence[str]
) -> int:
    """Deliveries first tried before `since` (a whole minute) and delivered at or after it: those delivered at
    or after it, less those first tried at or after it and delivered (the rollups' `delivered`)."""
    dialect = dialect_for(conn.dialect.name)
    total = 0
    for span in spans_for(since_ms, None):
        rollup, closed_table = tables.ROLLUPS[span.table], tables.CLOSED[span.table]
        for source, value, sign in (
            (closed_table, closed_table.c.closed, 1),
            (rollup, rollup.c.delivered, -1),
        ):
            where = bucket_window(source, dialect, span.start, span.end, 1, endpoint_ids, event_types)
            n = conn.execute(select(func.coalesce(func.sum(value), 0)).where(*where)).scalar_one()
            total += sign * int(n)
    return total


def answers(closed_counts: bool, flt: DeliveryFilter, since_ms: int, until_ms: int, bucket_ms: int) -> bool:
    """True when the buckets answer for the backlog: a store keeping the closed counts (version 9), a filter on
    endpoints and event types only (what the rollups keep; `sources` are resolved into `endpoint_ids`), and a
    window whose bounds and buckets are whole minutes (`grain_of`)."""
    plain = flt.with_(since_ms=None, until_ms=None, endpoint_ids=(), event_types=(), sources=())
    return closed_counts and plain == DeliveryFilter() and grain_of(since_ms, until_ms, bucket_ms) is not None
