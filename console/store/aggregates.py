"""The report's figures over deliveries, computed by the database: GROUP BY, window functions and LIMITed top
lists over a window's deliveries (first-attempt time index), so what reaches Python follows the size of the
answer, not of the window. Rollup rows, which the charts need one by one, are streamed.

Every function here counts deliveries (an event at an endpoint) unless its name says attempts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store.deliveries import filter_clause
from console.store.engine import Store
from console.store.where_sql import where_sql
from console.store.windows import matching, sql_table

ROLLUP_STREAM_COLUMNS = (
    "attempts",
    "successes",
    "http_errors",
    "timeouts",
    "network_errors",
    "latency_count",
)


def _joins(flt: DeliveryFilter, with_event: bool) -> str:
    return " JOIN event e ON e.event_id = d.event_id" if with_event or flt.search or flt.where else ""


def _deliveries(store: Store, flt: DeliveryFilter, with_event: bool = False) -> tuple[str, list[Any]]:
    """`FROM delivery d [JOIN event e] WHERE ...` for a filter; the event is joined when asked or needed."""
    where, params = filter_clause(store.dialect, flt)
    return f"FROM delivery d{_joins(flt, with_event)} WHERE {where}", params


def iter_rollups(
    store: Store,
    since_ms: int,
    until_ms: int,
    endpoint_ids: Sequence[str],
    event_types: Sequence[str],
    hourly: bool,
) -> Iterator[tuple[Any, ...]]:
    """Rollup rows of [since, until) at minute or hour grain, one at a time: (bucket start ms, endpoint_id,
    attempts, successes, http_errors, timeouts, network_errors, latency_count, latency_hist text)."""
    table, width = ("rollup_hour", MS_PER_HOUR) if hourly else ("rollup_minute", MS_PER_MINUTE)
    columns = ("bucket", "endpoint_id", *ROLLUP_STREAM_COLUMNS, "latency_hist")
    rollup = sql_table(table, *columns, "event_type")
    where = matching(
        rollup,
        endpoint_ids=endpoint_ids,
        event_types=event_types,
        time_column="bucket",
        since=since_ms // width,
        until=-(-until_ms // width),
    )
    query = select(*(rollup.c[name] for name in columns)).where(*where)
    with store.read() as conn:
        result = conn.execute(query, execution_options={"stream_results": True})
        while rows := result.fetchmany(5000):
            for row in rows:
                yield (row[0] * width, *row[1:])


def retries_until_success(store: Store, flt: DeliveryFilter) -> list[tuple[int, int]]:
    """(attempt number that delivered, deliveries) for the filter's delivered deliveries."""
    source, params = _deliveries(store, flt)
    sql = (
        f"SELECT d.delivered_attempt, COUNT(*) {source} AND d.delivered_at IS NOT NULL "
        "GROUP BY d.delivered_attempt ORDER BY d.delivered_attempt"
    )
    with store.read() as conn:
        return [(int(a), int(n)) for a, n in conn.exec_driver_sql(sql, tuple(params))]


@dataclass(frozen=True)
class DeliveryTimes:
    """Milliseconds from first attempt to delivery at one endpoint: count and linear-interpolated quantiles."""

    endpoint_id: str
    delivered: int
    p50_ms: float
    p95_ms: float
    max_ms: int


def _quantile(values: dict[int, int], n: int, percent: int) -> float:
    """The `percent` quantile by linear interpolation between the ranked values (0-based rank -> value)."""
    position = percent * (n - 1)
    low, rest = divmod(position, 100)
    if rest == 0 or low + 1 >= n:
        return float(values[low])
    return values[low] + (values[low + 1] - values[low]) * rest / 100


def _quantile_ranks(n: int) -> set[int]:
    """The 0-based ranks the p50, p95 and max of n values are read from."""
    return {(n - 1) // 2, (n - 1) // 2 + 1, 95 * (n - 1) // 100, 95 * (n - 1) // 100 + 1, n - 1}


def delivery_times(store: Store, flt: DeliveryFilter) -> list[DeliveryTimes]:
    """Per endpoint: p50, p95 and max of first attempt to delivery. Most deliveries succeed at once (0 ms), so
    the database counts those (GROUP BY), ranks only the others (a window function) and returns just the ranks
    the quantiles need."""
    source, params = _deliveries(store, flt)
    counts_sql = (
        "SELECT d.endpoint_id, COUNT(*), SUM(CASE WHEN d.delivered_at = d.first_attempt_at THEN 1 ELSE 0 END) "
        f"{source} AND d.delivered_at IS NOT NULL GROUP BY d.endpoint_id ORDER BY d.endpoint_id"
    )
    with store.read() as conn:
        counts = {e: (int(n), int(z)) for e, n, z in conn.exec_driver_sql(counts_sql, tuple(params))}
        wanted = {e: sorted(r - z for r in _quantile_ranks(n) if z <= r < n) for e, (n, z) in counts.items()}
        values: dict[str, dict[int, int]] = {
            e: {r: 0 for r in _quantile_ranks(n) if r < z} for e, (n, z) in counts.items()
        }
        picks = [(e, ranks) for e, ranks in wanted.items() if ranks]
        if picks:
            p = store.dialect.placeholder
            where = " OR ".join(
                f"(endpoint_id = {p} AND rn IN ({', '.join(str(r) for r in ranks)}))" for _, ranks in picks
            )
            sql = (
                "SELECT endpoint_id, rn, ms FROM (SELECT d.endpoint_id AS endpoint_id, d.delivered_at - d.first_attempt_at "
                "AS ms, ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY d.delivered_at - d.first_attempt_at) - 1 "
                f"AS rn {source} AND d.delivered_at IS NOT NULL AND d.delivered_at > d.first_attempt_at) ranked WHERE {where}"
            )
            for endpoint_id, rn, ms in conn.exec_driver_sql(sql, (*params, *(e for e, _ in picks))):
                values[endpoint_id][int(rn) + counts[endpoint_id][1]] = int(ms)
    return [
        DeliveryTimes(e, n, _quantile(values[e], n, 50), _quantile(values[e], n, 95), values[e][n - 1])
        for e, (n, _zero) in sorted(counts.items())
    ]


@dataclass(frozen=True)
class BacklogCounts:
    """What the backlog over a window's buckets is made of (deliveries): open at the window's start, and per
    bucket index, how many were first tried and how many were delivered in it."""

    at_start: int
    opened: dict[int, int]
    closed: dict[int, int]


def backlog_counts(
    store: Store, flt: DeliveryFilter, since_ms: int, until_ms: int, bucket_ms: int
) -> BacklogCounts:
    """Deliveries not delivered by each moment, from three aggregates: those first tried before the window and
    still open at its start (the undelivered index, plus the delivering attempts at or after the start), and
    per bucket those first tried and those delivered in the window (deliveries first tried before the window
    but delivered in it included)."""
    p = store.dialect.placeholder
    since, bucket = int(since_ms), int(bucket_ms)
    inside, inside_params = _deliveries(store, flt.with_(since_ms=since_ms, until_ms=until_ms))
    before_flt = flt.with_(since_ms=None, until_ms=since_ms)
    before, before_params = _deliveries(store, before_flt)
    before_where, _ = filter_clause(store.dialect, before_flt)
    opened_sql = f"SELECT (d.first_attempt_at - {since}) / {bucket} AS b, COUNT(*) {inside} GROUP BY b"
    closed_sql = (
        f"SELECT (d.delivered_at - {since}) / {bucket} AS b, COUNT(*) {inside} AND d.delivered_at IS NOT NULL "
        f"AND d.delivered_at < {p} GROUP BY b"
    )
    open_before_sql = f"SELECT COUNT(*) {before} AND d.delivered_at IS NULL"
    # Deliveries first tried before the window and delivered at or after its start: found through their
    # delivering attempt (attempt-time index), so the cost follows the time since the window's start. That
    # attempt is a retry or a replay (the first attempt came before the window): first attempts skip the join.
    late_sql = (
        f"SELECT (a.attempted_at - {since}) / {bucket} AS b, COUNT(*) FROM delivery_attempt a "
        f"JOIN delivery d ON d.event_id = a.event_id AND d.endpoint_id = a.endpoint_id{_joins(flt, False)} "
        f"WHERE a.attempted_at >= {p} AND a.outcome = 'success' AND (a.attempt > 1 OR a.trigger <> 'scheduled') "
        "AND d.delivered_at = a.attempted_at "
        f"AND d.delivered_attempt = a.attempt AND {before_where} GROUP BY b"
    )
    with store.read() as conn:
        opened = {int(b): int(n) for b, n in conn.exec_driver_sql(opened_sql, tuple(inside_params))}
        closed = {int(b): int(n) for b, n in conn.exec_driver_sql(closed_sql, (*inside_params, until_ms))}
        at_start = int(conn.exec_driver_sql(open_before_sql, tuple(before_params)).scalar_one())
        for b, n in conn.exec_driver_sql(late_sql, (since_ms, *before_params)):
            at_start += int(n)
            closed[int(b)] = closed.get(int(b), 0) + int(n)
    return BacklogCounts(at_start, opened, closed)


ORDERING_COLUMNS = (
    "endpoint_id",
    "user_id",
    "event_id",
    "occurred_at",
    "delivered_at",
    "overtook_event_id",
    "overtook_occurred_at",
    "overtook_delivered_at",
)


def ordering_anomalies(
    store: Store, flt: DeliveryFilter, limit: int = 50
) -> tuple[int, list[tuple[Any, ...]]]:
    """Deliveries that reached their endpoint before a delivery of an event the same user made earlier: their
    count and the first `limit` (by endpoint, user, occurrence), each with the earliest event it overtook.

    A window function gives each delivery the latest delivery time among the same user's strictly earlier
    events at the same endpoint; a delivery delivered before that overtook it."""
    source, params = _deliveries(store, flt, with_event=True)
    done = (
        "SELECT d.endpoint_id AS endpoint_id, e.user_id AS user_id, d.event_id AS event_id, "
        f"e.occurred_at AS occurred_at, d.delivered_at AS delivered_at {source} "
        "AND d.delivered_at IS NOT NULL AND e.user_id IS NOT NULL"
    )
    sql = (
        f"SELECT endpoint_id, user_id, event_id, occurred_at, delivered_at, earlier_max, COUNT(*) OVER () AS total "
        f"FROM (SELECT done.*, MAX(delivered_at) OVER (PARTITION BY endpoint_id, user_id ORDER BY occurred_at "
        f"RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_max FROM ({done}) done) marked "
        f"WHERE delivered_at < earlier_max ORDER BY endpoint_id, user_id, occurred_at, event_id LIMIT {int(limit)}"
    )
    p = store.dialect.placeholder
    overtaken_sql = (
        f"SELECT d.event_id, e.occurred_at {source} AND d.endpoint_id = {p} AND e.user_id = {p} "
        f"AND e.occurred_at < {p} AND d.delivered_at = {p} ORDER BY e.occurred_at, d.event_id LIMIT 1"
    )
    rows: list[tuple[Any, ...]] = []
    total = 0
    with store.read() as conn:
        late = conn.exec_driver_sql(sql, tuple(params)).fetchall()
        for endpoint_id, user_id, event_id, occurred_at, delivered_at, earlier_max, count in late:
            total = int(count)
            first = conn.exec_driver_sql(
                overtaken_sql, (*params, endpoint_id, user_id, occurred_at, earlier_max)
            ).first()
            assert first is not None  # the window function found it
            rows.append(
                (
                    endpoint_id,
                    user_id,
                    event_id,
                    int(occurred_at),
                    int(delivered_at),
                    first[0],
                    int(first[1]),
                    int(earlier_max),
                )
            )
    return total, rows


DUPLICATE_COLUMNS = ("event_id", "endpoint_id", "event_type", "successes", "attempts", "user_id")


def duplicate_deliveries(
    store: Store, flt: DeliveryFilter, limit: int = 50
) -> tuple[int, list[tuple[Any, ...]]]:
    """Deliveries acknowledged more than once: their count and the `limit` most acknowledged."""
    source, params = _deliveries(store, flt, with_event=True)
    sql = (
        "SELECT d.event_id, d.endpoint_id, d.event_type, d.successes, d.attempts, e.user_id, "
        f"COUNT(*) OVER () {source} "
        f"AND d.successes > 1 ORDER BY d.successes DESC, d.event_id, d.endpoint_id LIMIT {int(limit)}"
    )
    with store.read() as conn:
        rows = conn.exec_driver_sql(sql, tuple(params)).fetchall()
    return (int(rows[0][-1]) if rows else 0), [tuple(r[:-1]) for r in rows]


TOP_FAILING_COLUMNS = (
    "event_id",
    "endpoint_id",
    "event_type",
    "user_id",
    "reward_id",
    "amount",
    "currency",
    "attempts",
    "failed",
    "delivered",
    "last_status_code",
    "last_error",
)


def top_failing(store: Store, flt: DeliveryFilter, limit: int = 20) -> list[tuple[Any, ...]]:
    """The deliveries with the most failed attempts, undelivered ones first."""
    source, params = _deliveries(store, flt, with_event=True)
    sql = (
        "SELECT d.event_id, d.endpoint_id, d.event_type, e.user_id, e.reward_id, e.amount, e.currency, "
        "d.attempts, d.attempts - d.successes AS failed, "
        "CASE WHEN d.delivered_at IS NULL THEN 0 ELSE 1 END AS delivered, d.last_status_code, d.last_error "
        f"{source} AND d.attempts > d.successes "
        f"ORDER BY delivered, failed DESC, d.first_attempt_at, d.event_id, d.endpoint_id LIMIT {int(limit)}"
    )
    with store.read() as conn:
        return [(*r[:9], bool(r[9]), *r[10:]) for r in conn.exec_driver_sql(sql, tuple(params))]


@dataclass(frozen=True)
class IncidentReach:
    """Events an incident touched at its endpoint: with a failed attempt in it, and of those still undelivered."""

    events_affected: int
    still_undelivered: int


def incident_reach(
    store: Store, endpoint_id: str, start_ms: int, end_ms: int, where: str | None = None
) -> IncidentReach:
    """Distinct events with a failed attempt at an endpoint in [start, end) (attempt-time index), and how many of
    their deliveries there are undelivered now; only events whose payload matches `where` when given."""
    p = store.dialect.placeholder
    content, content_params = where_sql(store.dialect, where) if where else ("1 = 1", [])
    sql = (
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN d.delivered_at IS NULL THEN 1 ELSE 0 END), 0) FROM delivery d "
        f"{_joins(DeliveryFilter(where=where), False)} WHERE d.endpoint_id = {p} AND {content} AND d.event_id IN "
        "(SELECT a.event_id FROM delivery_attempt a "
        f"WHERE a.attempted_at >= {p} AND a.attempted_at < {p} AND a.endpoint_id = {p} AND a.outcome <> 'success')"
    )
    params = (endpoint_id, *content_params, start_ms, end_ms, endpoint_id)
    with store.read() as conn:
        row = conn.exec_driver_sql(sql, params).one()
    return IncidentReach(int(row[0]), int(row[1]))
