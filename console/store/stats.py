"""The dashboard's figures for a window, read from rollups, the failure rollup and the undelivered index.

Cost follows the window, not the history: no query here scans attempts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from sqlalchemy import ColumnElement, FromClause, func, select

from console.domain.filters import DeliveryFilter
from console.domain.kpis import CodeCount, EndpointKpis, Kpis, LatencySummary, StatsSnapshot
from console.domain.latency import percentiles
from console.domain.outcomes import ErrorKind
from console.domain.times import MS_PER_MINUTE
from console.store import tables
from console.store.dialect import Dialect
from console.store.engine import Store
from console.store.live import LAST_SEQ
from console.store.outstanding import is_resolved, outstanding
from console.store.rollup import N_COUNTERS
from console.store.windows import Counters, matching, rollup_rows

TOP_FAILURES = 3


class _Sums:
    """Counters and a merged histogram for one group of rollup rows."""

    __slots__ = ("counters", "hist")

    def __init__(self) -> None:
        self.counters: list[Any] = [0] * N_COUNTERS  # ints, and latency_sum a float
        self.hist: dict[int, int] = {}

    def add(self, row: Counters, hist_text: str) -> None:
        counters = self.counters
        for i in range(N_COUNTERS):
            counters[i] += row[i]
        if row.latency_count and hist_text != "{}":
            hist = self.hist
            for key, count in orjson.loads(hist_text).items():
                bucket = int(key)
                hist[bucket] = hist.get(bucket, 0) + count

    def merge(self, other: _Sums) -> None:
        for i in range(N_COUNTERS):
            self.counters[i] += other.counters[i]
        for bucket, count in other.hist.items():
            self.hist[bucket] = self.hist.get(bucket, 0) + count

    def kpis(self, oldest_undelivered_ms: int | None, resolved: int = 0) -> Kpis:
        c = Counters(*self.counters)
        p50, p95, p99 = percentiles(self.hist, (0.50, 0.95, 0.99))
        mean = c.latency_sum / c.latency_count if c.latency_count else None
        latency = LatencySummary(count=c.latency_count, p50=p50, p95=p95, p99=p99, mean=mean)
        return Kpis(
            attempts=c.attempts,
            successes=c.successes,
            http_errors=c.http_errors,
            timeouts=c.timeouts,
            network_errors=c.network_errors,
            first_attempts=c.first_attempts,
            first_attempt_successes=c.first_successes,
            deliveries=c.deliveries,
            delivered=c.delivered,
            resolved=resolved,
            oldest_undelivered_ms=oldest_undelivered_ms,
            latency=latency,
        )


DELIVERY = tables.delivery
FAILURE_MINUTE = tables.failure_minute


def _oldest_undelivered(conn: Any, dialect: Dialect, flt: DeliveryFilter) -> dict[str, int]:
    """The first-attempt time of the oldest undelivered delivery, per endpoint."""
    d = DELIVERY
    where = _in_window(d, dialect, flt, "first_attempt_at", 1)
    query = (
        select(d.c.endpoint_id, func.min(d.c.first_attempt_at))
        .where(outstanding(d, dialect), *where)
        .group_by(d.c.endpoint_id)
    )
    return {endpoint_id: oldest for endpoint_id, oldest in conn.execute(query)}


def _resolved(conn: Any, dialect: Dialect, flt: DeliveryFilter) -> dict[str, int]:
    """How many deliveries first tried in the window are resolved and undelivered, per endpoint (their index)."""
    d = DELIVERY
    where = _in_window(d, dialect, flt, "first_attempt_at", 1)
    query = (
        select(d.c.endpoint_id, func.count()).where(is_resolved(d, dialect), *where).group_by(d.c.endpoint_id)
    )
    return {endpoint_id: int(n) for endpoint_id, n in conn.execute(query)}


def _in_window(
    source: FromClause, dialect: Dialect, flt: DeliveryFilter, time_column: str, unit_ms: int
) -> list[ColumnElement[bool]]:
    """The filter's endpoints, event types and window at the rollups' minute resolution, `time_column` counting
    in units of `unit_ms`."""
    since = flt.since_ms // MS_PER_MINUTE * MS_PER_MINUTE // unit_ms if flt.since_ms is not None else None
    until = -(-flt.until_ms // MS_PER_MINUTE) * MS_PER_MINUTE // unit_ms if flt.until_ms is not None else None
    return matching(
        source,
        dialect,
        endpoint_id=flt.endpoint_ids,
        event_type=flt.event_types,
        time_column=time_column,
        since=since,
        until=until,
    )


Failures = tuple[dict[str, Counter[str]], dict[str, Counter[str]], dict[str, int]]  # codes, errors, last


def _failures(conn: Any, dialect: Dialect, flt: DeliveryFilter) -> Failures:
    f = FAILURE_MINUTE
    where = _in_window(f, dialect, flt, "bucket", MS_PER_MINUTE)
    query = (
        select(f.c.endpoint_id, f.c.status_code, f.c.error_kind, func.sum(f.c.count), func.max(f.c.last_at))
        .where(*where)
        .group_by(f.c.endpoint_id, f.c.status_code, f.c.error_kind)
    )
    codes: dict[str, Counter[str]] = {}
    errors: dict[str, Counter[str]] = {}
    last: dict[str, int] = {}
    for endpoint_id, status, kind, count, last_at in conn.execute(query):
        if status:
            codes.setdefault(endpoint_id, Counter())[str(status)] += int(count)
        if kind:
            errors.setdefault(endpoint_id, Counter())[ErrorKind(kind).value] += int(count)
        last[endpoint_id] = max(last.get(endpoint_id, 0), int(last_at))
    return codes, errors, last


def _top(counter: Counter[str] | None) -> tuple[CodeCount, ...]:
    """The most frequent failure labels, ties broken by label so output is stable."""
    if not counter:
        return ()
    ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return tuple(CodeCount(label, count) for label, count in ranked[:TOP_FAILURES])


def read_stats(store: Store, flt: DeliveryFilter) -> StatsSnapshot:
    """Overall, per-endpoint and per-event-type figures for the filter's window, endpoints and event types.

    With a `where` expression the figures come from the matching deliveries instead (store/content_stats.py).
    """
    if flt.where:
        from console.store.content_stats import read_content_stats  # it builds on this module

        return read_content_stats(store, flt)
    by_endpoint: dict[str, _Sums] = {}
    by_type: dict[str, _Sums] = {}
    with store.read() as conn:
        last_seq = conn.execute(LAST_SEQ).scalar_one()
        for row in rollup_rows(conn, flt.since_ms, flt.until_ms, flt.endpoint_ids, flt.event_types):
            endpoint_sums = by_endpoint.get(row.endpoint_id)
            if endpoint_sums is None:
                endpoint_sums = by_endpoint[row.endpoint_id] = _Sums()
            endpoint_sums.add(row.counters, row.latency_hist)
            type_sums = by_type.get(row.event_type)
            if type_sums is None:
                type_sums = by_type[row.event_type] = _Sums()
            type_sums.add(row.counters, row.latency_hist)
        oldest = _oldest_undelivered(conn, store.dialect, flt)
        codes, errors, last_failure = _failures(conn, store.dialect, flt)
        settled = _resolved(conn, store.dialect, flt) if store.dialect.resolutions else {}
    overall = _Sums()
    for sums in by_endpoint.values():
        overall.merge(sums)
    failures = (codes, errors, last_failure)
    return snapshot(flt, by_endpoint, by_type, overall, oldest, failures, int(last_seq), settled)


def snapshot(
    flt: DeliveryFilter,
    by_endpoint: dict[str, _Sums],
    by_type: dict[str, _Sums],
    overall: _Sums,
    oldest: dict[str, int],
    failures: Failures,
    last_seq: int,
    resolved: dict[str, int] | None = None,
) -> StatsSnapshot:
    """The figures from summed groups, the oldest undelivered per endpoint, the failures (status codes,
    error kinds, last failure time, per endpoint) and the resolved deliveries per endpoint."""
    resolved = resolved or {}
    codes, errors, last_failure = failures
    endpoints = tuple(
        EndpointKpis(
            endpoint_id=endpoint_id,
            kpis=by_endpoint[endpoint_id].kpis(oldest.get(endpoint_id), resolved.get(endpoint_id, 0)),
            top_status_codes=_top(codes.get(endpoint_id)),
            top_errors=_top(errors.get(endpoint_id)),
            last_failure_ms=last_failure.get(endpoint_id),
        )
        for endpoint_id in sorted(by_endpoint)
    )
    return StatsSnapshot(
        since_ms=flt.since_ms,
        until_ms=flt.until_ms,
        overall=overall.kpis(min(oldest.values()) if oldest else None, sum(resolved.values())),
        endpoints=endpoints,
        event_types=tuple((t, by_type[t].kpis(None)) for t in sorted(by_type)),
        last_seq=last_seq,
    )
