"""The old computation of the report's backlog counts and incident reach, over the window's deliveries and
attempts (SQL, exact): the oracle the bucket counts (console.store.backlog_buckets) and the failed-attempts index
are compared with (tests/test_backlog_buckets.py). Kept as it was before schema version 9."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, case, func, or_, select

from console.domain.filters import DeliveryFilter
from console.domain.where import Where
from console.store.aggregates import _B, ATTEMPT, BacklogCounts, _bucket
from console.store.deliveries import D, E, filter_conditions, matching_deliveries, needs_event
from console.store.engine import Store
from console.store.outstanding import is_resolved, outstanding


def backlog_counts(
    store: Store, flt: DeliveryFilter, since_ms: int, until_ms: int, bucket_ms: int
) -> BacklogCounts:
    """Deliveries not delivered by each moment, from these aggregates: those first tried before the window and
    still open at its start (the undelivered index, plus the delivering attempts at or after the start), and
    per bucket those first tried and those delivered in the window (deliveries first tried before the window
    but delivered in it included). A resolved delivery (won't send) counts as closed when it was resolved."""
    dialect = store.dialect
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
        resolved_query = (
            matching_deliveries(
                dialect,
                flt.with_(since_ms=None, until_ms=until_ms),
                _bucket(D.c.resolved_at, since_ms, bucket_ms),
                func.count(),
            )
            .where(is_resolved(D, dialect), D.c.resolved_at >= since_ms, D.c.resolved_at < until_ms)
            .group_by(_B)
        )
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


def incident_reach(
    store: Store,
    endpoint_id: str,
    start_ms: int,
    end_ms: int,
    where: Where | None = None,
    event_types: Sequence[str] = (),
) -> tuple[int, int]:
    """Distinct events with a failed attempt at an endpoint in [start, end) (attempt-time index), and how many of
    their deliveries there are undelivered now; only events whose payload matches `where` and of `event_types`
    when given."""
    a = ATTEMPT
    failed = select(a.c.event_id).where(
        a.c.attempted_at >= start_ms,
        a.c.attempted_at < end_ms,
        a.c.endpoint_id == endpoint_id,
        a.c.outcome != "success",
    )
    undelivered = func.coalesce(func.sum(case((outstanding(D, store.dialect), 1), else_=0)), 0)
    scope = DeliveryFilter(where=where, event_types=tuple(event_types))
    query = matching_deliveries(store.dialect, scope, func.count(), undelivered).where(
        D.c.endpoint_id == endpoint_id, D.c.event_id.in_(failed)
    )
    with store.read() as conn:
        affected, undelivered_now = conn.execute(query).one()
    return int(affected), int(undelivered_now)
