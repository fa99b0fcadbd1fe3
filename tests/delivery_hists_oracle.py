"""The old computation of retries until success and time to delivery, over the window's deliveries (SQL, exact):
the oracle the rollups' delivery histograms are compared with (tests/test_delivery_hists.py)."""

from __future__ import annotations

from sqlalchemy import func

from console.domain.filters import DeliveryFilter
from console.store.deliveries import D, matching_deliveries
from console.store.engine import Store


def retries_until_success(store: Store, flt: DeliveryFilter) -> list[tuple[int, int]]:
    """(attempt number that delivered, deliveries) for the filter's delivered deliveries."""
    query = (
        matching_deliveries(store.dialect, flt, D.c.delivered_attempt, func.count())
        .where(D.c.delivered_at.is_not(None))
        .group_by(D.c.delivered_attempt)
        .order_by(D.c.delivered_attempt)
    )
    with store.read() as conn:
        return [(int(a), int(n)) for a, n in conn.execute(query)]


def delivery_times(store: Store, flt: DeliveryFilter) -> dict[str, tuple[int, float, float, int]]:
    """Per endpoint: (delivered, p50, p95, max) of ms from first attempt to delivery, linear-interpolated
    between ranked values (as numpy's default)."""
    ms = D.c.delivered_at - D.c.first_attempt_at
    query = (
        matching_deliveries(store.dialect, flt, D.c.endpoint_id, ms)
        .where(D.c.delivered_at.is_not(None))
        .order_by(D.c.endpoint_id, ms)
    )
    values: dict[str, list[int]] = {}
    with store.read() as conn:
        for endpoint_id, value in conn.execute(query):
            values.setdefault(endpoint_id, []).append(int(value))

    def quantile(ranked: list[int], percent: int) -> float:
        low, rest = divmod(percent * (len(ranked) - 1), 100)
        if rest == 0 or low + 1 >= len(ranked):
            return float(ranked[low])
        return ranked[low] + (ranked[low + 1] - ranked[low]) * rest / 100

    return {e: (len(v), quantile(v, 50), quantile(v, 95), v[-1]) for e, v in sorted(values.items()) if v}
