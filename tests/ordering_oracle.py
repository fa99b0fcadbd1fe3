"""The old computation of ordering anomalies, over the deliveries (SQL, exact), as the oracle the rows kept at
ingest are compared with (tests/test_ordering_state.py): the window function of `aggregates._ordering_within`
run over every stored delivery, and the anomalies of the filter's deliveries listed as the report lists them."""

from __future__ import annotations

from typing import Any

from console.domain.filters import DeliveryFilter
from console.store import aggregates
from console.store.deliveries import D, matching_deliveries
from console.store.engine import Store

EVERYTHING = 10**9


def ordering_anomalies(
    store: Store, flt: DeliveryFilter, limit: int = 50
) -> tuple[int, list[tuple[Any, ...]]]:
    """(count, first `limit` rows) of the anomalies of the filter's deliveries, each compared with every stored
    delivery of its user at its endpoint."""
    _count, everything = aggregates._ordering_within(store, DeliveryFilter(), EVERYTHING)
    with store.read() as conn:
        selected = set(conn.execute(matching_deliveries(store.dialect, flt, D.c.event_id, D.c.endpoint_id)))
    rows = [r for r in everything if (r[2], r[0]) in selected]  # (event_id, endpoint_id)
    rows.sort(key=lambda r: (r[0], r[1], r[3], r[2]))
    return len(rows), rows[:limit]
