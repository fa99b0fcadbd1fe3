"""Retries until success and time to delivery from the rollups' delivery histograms (`retries_hist`,
`ttd_hist`; console.store.rollup), so the figures cost what the window's buckets cost, not its deliveries.

Deliveries are placed by their first attempt, at the rollups' minute resolution (a window's ends are rounded
down to the minute, as `stats` reads them). Retries until success is exact. Time to delivery is read from
latency buckets (console.domain.latency): 0 ms and every value a bucket holds alone (all below 20 ms) read
exactly, any other as its bucket's geometric midpoint, within 2.47% of the value; the p50 and p95 interpolate
between two ranked values like the exact computation, so they (and the max) stay within 2.47% of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from sqlalchemy import select

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.latency import bucket_bounds, midpoint, percentiles
from console.store.engine import Store
from console.store.rollup import decode_hist_or_empty
from console.store.tables import ROLLUPS
from console.store.windows import matching, spans_for


def answers(store: Store, flt: DeliveryFilter) -> bool:
    """True when the histograms answer for the filter: a store of version 8 or later, and a filter on the
    window, endpoints and event types only (what the rollups keep) or on delivered deliveries."""
    return (
        store.dialect.delivery_hists
        and flt.state in (DeliveryState.ANY, DeliveryState.DELIVERED)
        and not (flt.where or flt.search or flt.last_outcomes or flt.status_codes or flt.event_ids)
    )


def _rows(store: Store, flt: DeliveryFilter, column: str) -> Iterator[tuple[str, dict[int, int]]]:
    """(endpoint_id, histogram) of every rollup row of the window with delivered deliveries."""
    with store.read() as conn:
        for span in spans_for(flt.since_ms, flt.until_ms):
            rollup = ROLLUPS[span.table]
            where = matching(
                rollup,
                store.dialect,
                endpoint_id=flt.endpoint_ids,
                event_type=flt.event_types,
                time_column="bucket",
                since=span.start,
                until=span.end,
            )
            query = select(rollup.c.endpoint_id, rollup.c[column]).where(*where, rollup.c.delivered > 0)
            for endpoint_id, text in conn.execute(query):
                yield endpoint_id, decode_hist_or_empty(text)


def retries_until_success(store: Store, flt: DeliveryFilter) -> list[tuple[int, int]]:
    """(attempt number that delivered, deliveries), by attempt number."""
    total: dict[int, int] = {}
    for _endpoint, hist in _rows(store, flt, "retries_hist"):
        for number, count in hist.items():
            total[number] = total.get(number, 0) + count
    return sorted((number, count) for number, count in total.items() if count > 0)


def ttd_histograms(store: Store, flt: DeliveryFilter) -> dict[str, dict[int, int]]:
    """Per endpoint, the time-to-delivery histogram of its delivered deliveries."""
    per_endpoint: dict[str, dict[int, int]] = {}
    for endpoint_id, hist in _rows(store, flt, "ttd_hist"):
        into = per_endpoint.setdefault(endpoint_id, {})
        for bucket, count in hist.items():
            into[bucket] = into.get(bucket, 0) + count
    return {e: h for e, h in per_endpoint.items() if sum(h.values()) > 0}


def ttd_value(bucket: int) -> float:
    """The milliseconds a time-to-delivery bucket reads as: times are whole milliseconds, so a bucket that
    can hold one only (bucket 0 holds 0) reads as it; any other as its geometric midpoint."""
    low, high = bucket_bounds(bucket)
    first, last = math.ceil(low), math.ceil(high) - 1
    if first >= last:
        return float(first)
    return midpoint(bucket)


def describe(hist: Mapping[int, int]) -> tuple[int, float, float, float]:
    """(deliveries, p50, p95, max) in ms of a time-to-delivery histogram."""
    p50, p95, top = (p or 0.0 for p in percentiles(hist, (0.50, 0.95, 1.0), ttd_value))
    return sum(hist.values()), p50, p95, top
