"""The report's figures over deliveries, computed by the database: GROUP BY, window functions and LIMITed top
lists over a window's deliveries (first-attempt time index), so what reaches Python follows the size of the
answer, not of the window. Rollup rows, which the charts need one by one, are streamed.

Every function here counts deliveries (an event at an endpoint) unless its name says attempts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    text,
)

from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.domain.where import Where
from console.store import backlog_buckets, delivery_hists, tables
from console.store.deliveries import D, E, filter_conditions, matching_deliveries, needs_event
from console.store.engine import Store
from console.store.outstanding import is_resolved, outstanding
from console.store.windows import bucket_window

ATTEMPT = tables.delivery_attempt.alias("a")

ROLLUP_STREAM_COLUMNS = (
    "attempts",
    "successes",
    "http_errors",
    "timeouts",
    "network_errors",
    "latency_count",
)


def _bucket(time: Any, since_ms: int, bucket_ms: int) -> ColumnElement[Any]:
    """The window's bucket index of a time column: `(time - since) / bucket`, integer division on both stores."""
    bucket: ColumnElement[Any] = (time - int(since_ms)).self_group().op("/")(int(bucket_ms)).label("b")
    return bucket


# GROUP BY the label: the expression written again would bind its numbers a second time (PostgreSQL then
# refuses it as a different expression).
_B: ColumnElement[Any] = literal_column("b")


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
    rollup, width = (tables.rollup_hour, MS_PER_HOUR) if hourly else (tables.rollup_minute, MS_PER_MINUTE)
    columns = ("endpoint_id", *ROLLUP_STREAM_COLUMNS, "latency_hist")
    where = bucket_window(rollup, store.dialect, since_ms, until_ms, width, endpoint_ids, event_types)
    start_ms = (rollup.c.bucket * width).label("start_ms")  # BIGINT: the bucket's start, by the database
    query = select(start_ms, *(rollup.c[name] for name in columns)).where(*where)
    with store.read() as conn:
        result = conn.execute(query, execution_options={"stream_results": True})
        while rows := result.fetchmany(5000):
            yield from map(tuple, rows)


def retries_until_success(store: Store, flt: DeliveryFilter) -> list[tuple[int, int]]:
    """(attempt number that delivered, deliveries) for the filter's delivered deliveries: from the rollups'
    histograms when they answer for the filter (console.store.delivery_hists), else from the deliveries."""
    if delivery_hists.answers(store, flt):
        return delivery_hists.retries_until_success(store, flt)
    query = (
        matching_deliveries(store.dialect, flt, D.c.delivered_attempt, func.count())
        .where(D.c.delivered_at.is_not(None))
        .group_by(D.c.delivered_attempt)
        .order_by(D.c.delivered_attempt)
    )
    with store.read() as conn:
        return [(int(a), int(n)) for a, n in conn.execute(query)]


@dataclass(frozen=True)
class DeliveryTimes:
    """Milliseconds from first attempt to delivery at one endpoint: count and linear-interpolated quantiles
    (from the rollups' histograms: within their resolution, console.store.delivery_hists)."""

    endpoint_id: str
    delivered: int
    p50_ms: float
    p95_ms: float
    max_ms: float


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
    """Per endpoint: p50, p95 and max of first attempt to delivery, from the rollups' histograms when they answer
    for the filter (console.store.delivery_hists). Otherwise from the deliveries: most succeed at once (0 ms), so
    the database counts those (GROUP BY), ranks only the others (a window function) and returns just the ranks
    the quantiles need."""
    if delivery_hists.answers(store, flt):
        return [
            DeliveryTimes(e, *delivery_hists.describe(hist))
            for e, hist in sorted(delivery_hists.ttd_histograms(store, flt).items())
        ]
    at_once = func.sum(case((D.c.delivered_at == D.c.first_attempt_at, 1), else_=0))
    counts_query = (
        matching_deliveries(store.dialect, flt, D.c.endpoint_id, func.count(), at_once)
        .where(D.c.delivered_at.is_not(None))
        .group_by(D.c.endpoint_id)
        .order_by(D.c.endpoint_id)
    )
    with store.read() as conn:
        counts = {e: (int(n), int(z)) for e, n, z in conn.execute(counts_query)}
        wanted = {e: sorted(r - z for r in _quantile_ranks(n) if z <= r < n) for e, (n, z) in counts.items()}
        values: dict[str, dict[int, int]] = {
            e: {r: 0 for r in _quantile_ranks(n) if r < z} for e, (n, z) in counts.items()
        }
        picks = [(e, ranks) for e, ranks in wanted.items() if ranks]
        if picks:
            ms = D.c.delivered_at - D.c.first_attempt_at
            rank = func.row_number().over(partition_by=D.c.endpoint_id, order_by=ms) - 1
            ranked = (
                matching_deliveries(
                    store.dialect, flt, D.c.endpoint_id.label("endpoint_id"), ms.label("ms"), rank.label("rn")
                )
                .where(D.c.delivered_at.is_not(None), D.c.delivered_at > D.c.first_attempt_at)
                .subquery("ranked")
            )
            query = select(ranked.c.endpoint_id, ranked.c.rn, ranked.c.ms).where(
                or_(*(and_(ranked.c.endpoint_id == e, ranked.c.rn.in_(ranks)) for e, ranks in picks))
            )
            for endpoint_id, rn, ms_value in conn.execute(query):
                values[endpoint_id][int(rn) + counts[endpoint_id][1]] = int(ms_value)
    return [
        DeliveryTimes(e, n, _quantile(values[e], n, 50), _quantile(values[e], n, 95), values[e][n - 1])
        for e, (n, _zero) in sorted(counts.items())
    ]


def newest_attempt(store: Store) -> int | None:
    """The time of the newest stored attempt (attempt-time index), or None for an empty store."""
    with store.read() as conn:
        newest = conn.execute(select(func.max(ATTEMPT.c.attempted_at))).scalar()
    return None if newest is None else int(newest)


def resolved_now(store: Store, flt: DeliveryFilter) -> list[tuple[str, int]]:
    """The resolved deliveries (won't send, still undelivered) whenever first tried, by reason, most first: what
    the report counts apart from the backlog (the filter's window is left out, as for `undelivered_now`)."""
    if not store.dialect.resolutions:
        return []
    anytime = flt.with_(since_ms=None, until_ms=None)
    n = func.count().label("n")
    query = (
        matching_deliveries(store.dialect, anytime, D.c.resolved_reason, n)
        .where(is_resolved(D, store.dialect))
        .group_by(D.c.resolved_reason)
        .order_by(n.desc(), D.c.resolved_reason)
    )
    with store.read() as conn:
        return [(str(reason or ""), int(count)) for reason, count in conn.execute(query)]


def undelivered_now(store: Store, flt: DeliveryFilter) -> dict[str, tuple[int, int]]:
    """Per endpoint, the deliveries undelivered now whenever first tried (the filter's window is left out) and the
    oldest one's first attempt: what `stats` without a window and the console's backlog count. One GROUP BY on the
    undelivered index."""
    anytime = flt.with_(since_ms=None, until_ms=None)
    query = (
        matching_deliveries(
            store.dialect, anytime, D.c.endpoint_id, func.count(), func.min(D.c.first_attempt_at)
        )
        .where(outstanding(D, store.dialect))
        .group_by(D.c.endpoint_id)
    )
    with store.read() as conn:
        return {str(e): (int(n), int(oldest)) for e, n, oldest in conn.execute(query)}


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
    """Deliveries not delivered by each moment, from these aggregates: those first tried before the window and
    still open at its start (the undelivered index, plus the delivering attempts at or after the start), and
    per bucket those first tried and those delivered in the window (deliveries first tried before the window
    but delivered in it included). A resolved delivery (won't send) counts as closed when it was resolved.

    On a filter the rollups keep (window, endpoints, event types) the counts come from the buckets
    (console.store.backlog_buckets); otherwise from the deliveries and their delivering attempts."""
    dialect = store.dialect
    if backlog_buckets.answers(dialect.closed_counts, flt, since_ms, until_ms, bucket_ms):
        return _backlog_from_buckets(store, flt, since_ms, until_ms, bucket_ms)
    inside = flt.with_(since_ms=since_ms, until_ms=until_ms)
    before = flt.with_(since_ms=None, until_ms=since_ms)
    opened_query = matching_deliveries(
        dialect, inside, _bucket(D.c.first_attempt_at, since_ms, bucket_ms), func.count()
    ).group_by(_B)
    closed_query = (
        matching_deliveries(dialect, inside, _bucket(D.c.delivered_at, since_ms, bucket_ms), func.count())
        .where(D.c.delivered_at.is_not(None), D.c.delivered_at < until_ms)
        .group_by(_B)
    )
    open_before_query = matching_deliveries(dialect, before, func.count()).where(D.c.delivered_at.is_(None))
    resolved_query = None
    if dialect.resolutions:  # a resolved delivery (won't send) leaves the backlog when it was resolved
        open_before_query = open_before_query.where(
            or_(D.c.resolved_at.is_(None), D.c.resolved_at >= since_ms)
        )
        resolved_query = _resolved_in_window(store, flt, since_ms, until_ms, bucket_ms)
    # Deliveries first tried before the window and delivered at or after its start: found through their
    # delivering attempt (attempt-time index), so the cost follows the time since the window's start. That
    # attempt is a retry or a replay (the first attempt came before the window): first attempts skip the join.
    a = ATTEMPT
    joined = a.join(D, and_(D.c.event_id == a.c.event_id, D.c.endpoint_id == a.c.endpoint_id))
    if needs_event(flt):
        joined = joined.join(E, E.c.event_id == D.c.event_id)
    late_query = (
        select(_bucket(a.c.attempted_at, since_ms, bucket_ms), func.count())
        .select_from(joined)
        .where(
            a.c.attempted_at >= since_ms,
            a.c.outcome == "success",
            or_(a.c.attempt > 1, a.c.trigger != "scheduled"),
            D.c.delivered_at == a.c.attempted_at,
            D.c.delivered_attempt == a.c.attempt,
            *filter_conditions(dialect, before),
        )
        .group_by(_B)
    )
    with store.read() as conn:
        opened = {int(b): int(n) for b, n in conn.execute(opened_query)}
        closed = {int(b): int(n) for b, n in conn.execute(closed_query)}
        at_start = int(conn.execute(open_before_query).scalar_one())
        for b, n in conn.execute(late_query):
            at_start += int(n)
            closed[int(b)] = closed.get(int(b), 0) + int(n)
        for b, n in conn.execute(resolved_query) if resolved_query is not None else ():
            closed[int(b)] = closed.get(int(b), 0) + int(n)
    return BacklogCounts(at_start, opened, closed)


def _resolved_in_window(
    store: Store, flt: DeliveryFilter, since_ms: int, until_ms: int, bucket_ms: int
) -> Select[Any]:
    """Per bucket, the deliveries resolved (won't send, still undelivered) in it, first tried before `until`."""
    return (
        matching_deliveries(
            store.dialect,
            flt.with_(since_ms=None, until_ms=until_ms),
            _bucket(D.c.resolved_at, since_ms, bucket_ms),
            func.count(),
        )
        .where(is_resolved(D, store.dialect), D.c.resolved_at >= since_ms, D.c.resolved_at < until_ms)
        .group_by(_B)
    )


def _backlog_from_buckets(
    store: Store, flt: DeliveryFilter, since_ms: int, until_ms: int, bucket_ms: int
) -> BacklogCounts:
    """`backlog_counts` from the rollups and the closed counts (a filter `backlog_buckets.answers` for): opened
    and closed per bucket read bucket rows; open at the start is the outstanding deliveries first tried before
    it (the undelivered index), those resolved since (the resolved index) and those delivered since
    (`backlog_buckets.delivered_late`)."""
    dialect = store.dialect
    table = backlog_buckets.grain_of(since_ms, until_ms, bucket_ms)
    assert table is not None
    before = flt.with_(since_ms=None, until_ms=since_ms)
    open_before = matching_deliveries(dialect, before, func.count()).where(outstanding(D, dialect))
    resolved_since = matching_deliveries(dialect, before, func.count()).where(
        is_resolved(D, dialect), D.c.resolved_at >= since_ms
    )
    with store.read() as conn:
        opened, closed = backlog_buckets.window_counts(
            conn, table, since_ms, until_ms, bucket_ms, flt.endpoint_ids, flt.event_types
        )
        at_start = int(conn.execute(open_before).scalar_one())
        at_start += int(conn.execute(resolved_since).scalar_one())
        at_start += backlog_buckets.delivered_late(conn, since_ms, flt.endpoint_ids, flt.event_types)
        for b, n in conn.execute(_resolved_in_window(store, flt, since_ms, until_ms, bucket_ms)):
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


ORDERING = tables.ordering_anomaly


def ordering_anomalies(
    store: Store, flt: DeliveryFilter, limit: int = 50
) -> tuple[int, list[tuple[Any, ...]]]:
    """Deliveries that reached their endpoint before a delivery of an event the same user made earlier: their
    count and the first `limit` (by endpoint, user, occurrence), each with the event it overtook (the latest
    delivered, the earliest to occur among equals).

    Read from the rows kept at ingest (console.store.ordering: compared with everything stored), those of the
    filter's deliveries: the rows delivered since the window's start (a delivery is first tried before it is
    delivered), each joined with its delivery for the filter. A store before version 10 (opened read-only)
    compares the window's deliveries among themselves, as before."""
    if not store.dialect.ordering_state:
        return _ordering_within(store, flt, limit)
    rows_since = select(ORDERING)
    if flt.since_ms is not None:
        rows_since = rows_since.where(ORDERING.c.delivered_at >= int(flt.since_ms))
    # Materialized, so that the planner reads these rows first and each one's delivery by its key (the
    # window's deliveries, through the first-attempt index, are many more).
    o = rows_since.cte("o").prefix_with("MATERIALIZED")
    source = o.join(D, and_(D.c.event_id == o.c.event_id, D.c.endpoint_id == o.c.endpoint_id))
    if needs_event(flt):
        source = source.join(E, E.c.event_id == D.c.event_id)
    conditions = filter_conditions(store.dialect, flt)
    query = (
        select(
            o.c.endpoint_id,
            o.c.user_id,
            o.c.event_id,
            o.c.occurred_at,
            o.c.delivered_at,
            o.c.overtook_event_id,
            o.c.overtook_occurred_at,
            o.c.overtook_delivered_at,
            func.count().over(),
        )
        .select_from(source)
        .where(*conditions)
        .order_by(o.c.endpoint_id, o.c.user_id, o.c.occurred_at, o.c.event_id)
        .limit(int(limit))
    )
    with store.read() as conn:
        rows = conn.execute(query).fetchall()
    total = int(rows[0][-1]) if rows else 0
    return total, [
        (e, u, i, int(oc), int(dl), oi, int(oo), int(od)) for e, u, i, oc, dl, oi, oo, od, _n in rows
    ]


def _ordering_within(store: Store, flt: DeliveryFilter, limit: int) -> tuple[int, list[tuple[Any, ...]]]:
    """`ordering_anomalies` among the filter's deliveries only, each with the earliest event it overtook: a
    window function gives each delivery the latest delivery time among the same user's strictly earlier events
    at the same endpoint; a delivery delivered before that overtook it."""
    dialect = store.dialect
    done = (
        matching_deliveries(
            dialect,
            flt,
            D.c.endpoint_id.label("endpoint_id"),
            E.c.user_id.label("user_id"),
            D.c.event_id.label("event_id"),
            E.c.occurred_at.label("occurred_at"),
            D.c.delivered_at.label("delivered_at"),
            event=True,
        )
        .where(D.c.delivered_at.is_not(None), E.c.user_id.is_not(None))
        .subquery("done")
    )
    earlier_max = func.max(done.c.delivered_at).over(
        partition_by=(done.c.endpoint_id, done.c.user_id), order_by=done.c.occurred_at, range_=(None, -1)
    )
    marked = select(*done.c, earlier_max.label("earlier_max")).subquery("marked")
    m = marked.c
    query = (
        select(
            m.endpoint_id,
            m.user_id,
            m.event_id,
            m.occurred_at,
            m.delivered_at,
            m.earlier_max,
            func.count().over(),
        )
        .where(m.delivered_at < m.earlier_max)
        .order_by(m.endpoint_id, m.user_id, m.occurred_at, m.event_id)
        .limit(int(limit))
    )
    binds: list[BindParameter[Any]] = [bindparam(n) for n in ("endpoint", "user", "occurred", "delivered")]
    endpoint, user, occurred, delivered = binds
    overtaken_query = (
        matching_deliveries(dialect, flt, D.c.event_id, E.c.occurred_at, event=True)
        .where(
            D.c.endpoint_id == endpoint,
            E.c.user_id == user,
            E.c.occurred_at < occurred,
            D.c.delivered_at == delivered,
        )
        .order_by(E.c.occurred_at, D.c.event_id)
        .limit(1)
    )
    rows: list[tuple[Any, ...]] = []
    total = 0
    with store.read() as conn:
        late = conn.execute(query).fetchall()
        for endpoint_id, user_id, event_id, occurred_at, delivered_at, latest, count in late:
            total = int(count)
            first = conn.execute(
                overtaken_query,
                {"endpoint": endpoint_id, "user": user_id, "occurred": occurred_at, "delivered": latest},
            ).first()
            assert first is not None  # the window function found it
            overtaken_id, overtaken_at = first
            rows.append(
                (
                    endpoint_id,
                    user_id,
                    event_id,
                    int(occurred_at),
                    int(delivered_at),
                    overtaken_id,
                    int(overtaken_at),
                    int(latest),
                )
            )
    return total, rows


DUPLICATE_COLUMNS = ("event_id", "endpoint_id", "event_type", "successes", "attempts", "user_id")


def duplicate_deliveries(
    store: Store, flt: DeliveryFilter, limit: int = 50
) -> tuple[int, list[tuple[Any, ...]]]:
    """Deliveries acknowledged more than once: their count and the `limit` most acknowledged. They are read
    through the partial index that holds only them (`ix_delivery_duplicates`, schema version 10), so the cost
    follows the duplicates, not the window's deliveries."""
    columns = (D.c.event_id, D.c.endpoint_id, D.c.event_type, D.c.successes, D.c.attempts, E.c.user_id)
    query = (
        matching_deliveries(store.dialect, flt, *columns, func.count().over(), event=True)
        .where(
            D.c.successes > literal_column("1")
        )  # written as the index's condition, so the planner takes it
        .order_by(D.c.successes.desc(), D.c.event_id, D.c.endpoint_id)
        .limit(int(limit))
    )
    with store.read() as conn:
        rows = conn.execute(query).fetchall()
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
    """The deliveries with the most failed attempts, undelivered ones first. Two reads: the outstanding ones
    (undelivered, not resolved: the backlog's partial index, few), then, only when they are fewer than `limit`,
    the delivered ones with a failed attempt. Resolved ones are no longer "failing"."""
    failed = (D.c.attempts - D.c.successes).label("failed")
    columns = (
        D.c.event_id,
        D.c.endpoint_id,
        D.c.event_type,
        E.c.user_id,
        E.c.reward_id,
        E.c.amount,
        E.c.currency,
        D.c.attempts,
        failed,
        D.c.last_status_code,
        D.c.last_error,
    )
    rows: list[tuple[Any, ...]] = []
    with store.read() as conn:
        for delivered, condition in (
            (False, outstanding(D, store.dialect)),
            (True, and_(D.c.delivered_at.is_not(None), D.c.attempts > D.c.successes)),
        ):
            if len(rows) >= limit:
                break
            query = (
                matching_deliveries(store.dialect, flt, *columns, event=True)
                .where(condition)
                .order_by(failed.desc(), D.c.first_attempt_at, D.c.event_id, D.c.endpoint_id)
                .limit(int(limit) - len(rows))
            )
            rows.extend((*head, delivered, code, error) for *head, code, error in conn.execute(query))
    return rows


@dataclass(frozen=True)
class IncidentReach:
    """Events an incident touched at its endpoint: with a failed attempt in it, and of those still undelivered."""

    events_affected: int
    still_undelivered: int


def incident_reach(
    store: Store,
    endpoint_id: str,
    start_ms: int,
    end_ms: int,
    where: Where | None = None,
    event_types: Sequence[str] = (),
) -> IncidentReach:
    """Distinct events with a failed attempt at an endpoint in [start, end), and how many of
    their deliveries there are undelivered now; only events whose payload matches `where` and of `event_types`
    when given. The failed attempts are read from the endpoint's failed-attempts index (its condition as text, so
    both stores match the one to the other), so the cost follows that endpoint's failures in the incident."""
    a = ATTEMPT
    failed = select(a.c.event_id).where(
        a.c.endpoint_id == endpoint_id,
        a.c.attempted_at >= start_ms,
        a.c.attempted_at < end_ms,
        text(f"a.{tables.FAILED_INDEX_WHERE}"),
    )
    undelivered = func.coalesce(func.sum(case((outstanding(D, store.dialect), 1), else_=0)), 0)
    scope = DeliveryFilter(where=where, event_types=tuple(event_types))
    query = matching_deliveries(store.dialect, scope, func.count(), undelivered).where(
        D.c.endpoint_id == endpoint_id, D.c.event_id.in_(failed)
    )
    with store.read() as conn:
        affected, undelivered_now = conn.execute(query).one()
    return IncidentReach(int(affected), int(undelivered_now))
