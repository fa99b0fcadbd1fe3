"""`stats --where`: the dashboard's figures for the deliveries whose event payload matches an expression.

Rollups hold no payloads, so these figures come from the delivery, event and attempt tables instead: the
deliveries first tried in the window that match the filter, and every attempt of those deliveries (also the
ones after the window's end). Latency percentiles come from a histogram of latencies rounded to 0.1 ms.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import BigInteger, and_, case, cast, func, literal_column, select

from console.domain.filters import DeliveryFilter
from console.domain.kpis import StatsSnapshot
from console.domain.latency import bucket_of
from console.domain.outcomes import error_kind_of
from console.store import tables
from console.store.deliveries import D, filter_conditions, with_event
from console.store.engine import Store
from console.store.live import LAST_SEQ
from console.store.outstanding import is_resolved, outstanding
from console.store.rollup import _OUTCOME_SLOT
from console.store.stats import _Sums, snapshot

A = tables.delivery_attempt.alias("a")


def read_content_stats(store: Store, flt: DeliveryFilter) -> StatsSnapshot:
    """Overall, per-endpoint and per-event-type figures of the matching deliveries and their attempts."""
    where = filter_conditions(store.dialect, flt)
    with_attempts = with_event().join(
        A, and_(A.c.event_id == D.c.event_id, A.c.endpoint_id == D.c.endpoint_id)
    )
    sums: dict[tuple[str, str], _Sums] = {}

    def group(endpoint_id: str, event_type: str) -> _Sums:
        found = sums.get((endpoint_id, event_type))
        if found is None:
            found = sums[(endpoint_id, event_type)] = _Sums()
        return found

    # Computed groups are named by their label: the expression again would bind its numbers twice.
    is_first = case((A.c.attempt == 1, 1), else_=0).label("is_first")
    attempts_query = (
        select(
            D.c.endpoint_id,
            D.c.event_type,
            A.c.outcome,
            is_first,
            func.count(),
            func.count(A.c.latency_ms),
            func.coalesce(func.sum(A.c.latency_ms), 0),
        )
        .select_from(with_attempts)
        .where(*where)
        .group_by(D.c.endpoint_id, D.c.event_type, A.c.outcome, literal_column("is_first"))
    )
    tenths = cast(A.c.latency_ms * 10, BigInteger).label("tenths")
    latency_query = (
        select(D.c.endpoint_id, D.c.event_type, tenths, func.count())
        .select_from(with_attempts)
        .where(*where, A.c.latency_ms.is_not(None))
        .group_by(D.c.endpoint_id, D.c.event_type, literal_column("tenths"))
    )
    first_undelivered = func.min(case((outstanding(D, store.dialect), D.c.first_attempt_at)))
    settled = func.sum(case((is_resolved(D, store.dialect), 1), else_=0))
    deliveries_query = (
        select(
            D.c.endpoint_id,
            D.c.event_type,
            func.count(),
            func.count(D.c.delivered_at),
            first_undelivered,
            settled,
        )
        .select_from(with_event())
        .where(*where)
        .group_by(D.c.endpoint_id, D.c.event_type)
    )
    failures_query = (
        select(D.c.endpoint_id, A.c.status_code, A.c.error, func.count(), func.max(A.c.attempted_at))
        .select_from(with_attempts)
        .where(*where, A.c.outcome != "success")
        .group_by(D.c.endpoint_id, A.c.status_code, A.c.error)
    )
    oldest: dict[str, int] = {}
    resolved: dict[str, int] = {}
    codes: dict[str, Counter[str]] = {}
    errors: dict[str, Counter[str]] = {}
    last_failure: dict[str, int] = {}
    with store.read() as conn:
        last_seq = conn.execute(LAST_SEQ).scalar_one()
        for endpoint_id, event_type, outcome, first, count, lat_n, lat_sum in conn.execute(attempts_query):
            c = group(endpoint_id, event_type).counters
            c[0] += count
            c[_OUTCOME_SLOT[outcome]] += count
            if first:
                c[5] += count
                if outcome == "success":
                    c[6] += count
            c[9] += lat_n
            c[10] += lat_sum  # a float sum, as in the rollups
        for endpoint_id, event_type, tenths, count in conn.execute(latency_query):
            hist = group(endpoint_id, event_type).hist
            bucket = bucket_of(int(tenths) / 10)
            hist[bucket] = hist.get(bucket, 0) + int(count)
        for endpoint_id, event_type, count, delivered, first_undelivered, n_resolved in conn.execute(
            deliveries_query
        ):
            c = group(endpoint_id, event_type).counters
            c[7] += count
            c[8] += delivered
            if n_resolved:
                resolved[endpoint_id] = resolved.get(endpoint_id, 0) + int(n_resolved)
            if first_undelivered is not None:
                oldest[endpoint_id] = min(oldest.get(endpoint_id, first_undelivered), first_undelivered)
        for endpoint_id, status, error, count, last_at in conn.execute(failures_query):
            if status:
                codes.setdefault(endpoint_id, Counter())[str(status)] += int(count)
            kind = error_kind_of(error).value
            if kind:
                errors.setdefault(endpoint_id, Counter())[kind] += int(count)
            last_failure[endpoint_id] = max(last_failure.get(endpoint_id, 0), int(last_at))
    by_endpoint: dict[str, _Sums] = {}
    by_type: dict[str, _Sums] = {}
    overall = _Sums()
    for (endpoint_id, event_type), group_sums in sums.items():
        by_endpoint.setdefault(endpoint_id, _Sums()).merge(group_sums)
        by_type.setdefault(event_type, _Sums()).merge(group_sums)
        overall.merge(group_sums)
    failures = (codes, errors, last_failure)
    return snapshot(flt, by_endpoint, by_type, overall, oldest, failures, int(last_seq), resolved)
