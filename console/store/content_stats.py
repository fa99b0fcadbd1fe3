"""`stats --where`: the dashboard's figures for the deliveries whose event payload matches an expression.

Rollups hold no payloads, so these figures come from the delivery, event and attempt tables instead: the
deliveries first tried in the window that match the filter, and every attempt of those deliveries (also the
ones after the window's end). Latency percentiles come from a histogram of latencies rounded to 0.1 ms.
"""

from __future__ import annotations

from collections import Counter

from console.domain.filters import DeliveryFilter
from console.domain.kpis import StatsSnapshot
from console.domain.latency import bucket_of
from console.domain.outcomes import error_kind_of
from console.store.deliveries import filter_clause
from console.store.engine import Store
from console.store.rollup import _OUTCOME_SLOT
from console.store.stats import _Sums, snapshot

_FROM = (
    "FROM delivery d JOIN event e ON e.event_id = d.event_id "
    "JOIN delivery_attempt a ON a.event_id = d.event_id AND a.endpoint_id = d.endpoint_id"
)


def read_content_stats(store: Store, flt: DeliveryFilter) -> StatsSnapshot:
    """Overall, per-endpoint and per-event-type figures of the matching deliveries and their attempts."""
    where, params = filter_clause(store.dialect, flt)
    sums: dict[tuple[str, str], _Sums] = {}

    def group(endpoint_id: str, event_type: str) -> _Sums:
        found = sums.get((endpoint_id, event_type))
        if found is None:
            found = sums[(endpoint_id, event_type)] = _Sums()
        return found

    attempts_sql = (
        "SELECT d.endpoint_id, d.event_type, a.outcome, CASE WHEN a.attempt = 1 THEN 1 ELSE 0 END, COUNT(*), "
        f"COUNT(a.latency_ms), COALESCE(SUM(a.latency_ms), 0) {_FROM} WHERE {where} "
        "GROUP BY d.endpoint_id, d.event_type, a.outcome, CASE WHEN a.attempt = 1 THEN 1 ELSE 0 END"
    )
    latency_sql = (
        f"SELECT d.endpoint_id, d.event_type, CAST(a.latency_ms * 10 AS BIGINT), COUNT(*) {_FROM} "
        f"WHERE {where} AND a.latency_ms IS NOT NULL "
        "GROUP BY d.endpoint_id, d.event_type, CAST(a.latency_ms * 10 AS BIGINT)"
    )
    deliveries_sql = (
        "SELECT d.endpoint_id, d.event_type, COUNT(*), COUNT(d.delivered_at), "
        "MIN(CASE WHEN d.delivered_at IS NULL THEN d.first_attempt_at END) "
        f"FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE {where} GROUP BY d.endpoint_id, d.event_type"
    )
    failures_sql = (
        f"SELECT d.endpoint_id, a.status_code, a.error, COUNT(*), MAX(a.attempted_at) {_FROM} "
        f"WHERE {where} AND a.outcome <> 'success' GROUP BY d.endpoint_id, a.status_code, a.error"
    )
    oldest: dict[str, int] = {}
    codes: dict[str, Counter[str]] = {}
    errors: dict[str, Counter[str]] = {}
    last_failure: dict[str, int] = {}
    with store.read() as conn:
        last_seq = conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM delivery_attempt").scalar_one()
        for endpoint_id, event_type, outcome, first, count, lat_n, lat_sum in conn.exec_driver_sql(
            attempts_sql, tuple(params)
        ):
            c = group(endpoint_id, event_type).counters
            c[0] += count
            c[_OUTCOME_SLOT[outcome]] += count
            if first:
                c[5] += count
                if outcome == "success":
                    c[6] += count
            c[9] += lat_n
            c[10] += lat_sum  # a float sum, as in the rollups
        for endpoint_id, event_type, tenths, count in conn.exec_driver_sql(latency_sql, tuple(params)):
            hist = group(endpoint_id, event_type).hist
            bucket = bucket_of(int(tenths) / 10)
            hist[bucket] = hist.get(bucket, 0) + int(count)
        for endpoint_id, event_type, count, delivered, first_undelivered in conn.exec_driver_sql(
            deliveries_sql, tuple(params)
        ):
            c = group(endpoint_id, event_type).counters
            c[7] += count
            c[8] += delivered
            if first_undelivered is not None:
                oldest[endpoint_id] = min(oldest.get(endpoint_id, first_undelivered), first_undelivered)
        for endpoint_id, status, error, count, last_at in conn.exec_driver_sql(failures_sql, tuple(params)):
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
    return snapshot(flt, by_endpoint, by_type, overall, oldest, (codes, errors, last_failure), int(last_seq))
