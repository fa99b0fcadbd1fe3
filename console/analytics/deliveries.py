"""Figures over deliveries (an event at an endpoint): retries until success, time to delivery, the backlog
over time, ordering anomalies, duplicates and the top failing events. The database computes them
(console.store.aggregates); this module shapes the answers into frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from console.domain.filters import DeliveryFilter
from console.store import aggregates
from console.store.aggregates import BacklogCounts
from console.store.engine import Store

PAYLOAD_EXCERPT = 160
TOP_FAILING_COLUMNS = list(aggregates.TOP_FAILING_COLUMNS)


def retries_until_success(store: Store, flt: DeliveryFilter) -> pd.DataFrame:
    """How many deliveries succeeded on their 1st, 2nd, ... attempt (deliveries)."""
    rows = aggregates.retries_until_success(store, flt)
    return pd.DataFrame.from_records(rows, columns=["attempt", "deliveries"])


def time_to_delivery(store: Store, flt: DeliveryFilter) -> pd.DataFrame:
    """Per endpoint: seconds from first attempt to delivery, p50, p95 and max (delivered deliveries)."""
    rows = [
        (t.endpoint_id, t.delivered, t.p50_ms / 1000, t.p95_ms / 1000, t.max_ms / 1000)
        for t in aggregates.delivery_times(store, flt)
    ]
    return pd.DataFrame.from_records(rows, columns=["endpoint_id", "delivered", "p50_s", "p95_s", "max_s"])


def backlog_series(counts: BacklogCounts, since_ms: int, until_ms: int, bucket_ms: int) -> pd.DataFrame:
    """Undelivered deliveries at the end of each bucket: those open at the window's start, plus those first tried
    by then, minus those delivered by then (deliveries)."""
    starts = list(range(since_ms, until_ms, bucket_ms))
    opened = np.cumsum([counts.opened.get(i, 0) for i in range(len(starts))], dtype=np.int64)
    closed = np.cumsum([counts.closed.get(i, 0) for i in range(len(starts))], dtype=np.int64)
    values = counts.at_start + opened - closed
    return pd.DataFrame({"bucket_ms": starts, "undelivered": values.astype(int)})


def ordering_anomalies(store: Store, flt: DeliveryFilter, limit: int = 50) -> tuple[int, pd.DataFrame]:
    """Deliveries that reached an endpoint before a delivery of an event the same user made earlier.

    Returns their count and the first `limit`, each with the earlier event it overtook (deliveries)."""
    count, rows = aggregates.ordering_anomalies(store, flt, limit)
    return count, pd.DataFrame.from_records(rows, columns=list(aggregates.ORDERING_COLUMNS))


def duplicate_deliveries(store: Store, flt: DeliveryFilter, limit: int = 50) -> tuple[int, pd.DataFrame]:
    """Deliveries acknowledged more than once by their endpoint: their count and the `limit` most acknowledged."""
    count, rows = aggregates.duplicate_deliveries(store, flt, limit)
    return count, pd.DataFrame.from_records(rows, columns=list(aggregates.DUPLICATE_COLUMNS))


def top_failing_events(store: Store, flt: DeliveryFilter, limit: int = 20) -> pd.DataFrame:
    """The deliveries with the most failed attempts, undelivered ones first (deliveries)."""
    rows = aggregates.top_failing(store, flt, limit)
    return pd.DataFrame.from_records(rows, columns=TOP_FAILING_COLUMNS).astype({"last_status_code": "Int64"})


def with_payload_excerpts(frame: pd.DataFrame, payloads: dict[str, bytes]) -> pd.DataFrame:
    """Add the first characters of each event's payload."""
    excerpts = [
        payloads.get(e, b"")[:PAYLOAD_EXCERPT].decode("utf-8", errors="replace") for e in frame["event_id"]
    ]
    return frame.assign(payload_excerpt=excerpts)
