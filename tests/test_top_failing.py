"""Top failing deliveries, read as the outstanding ones first (the backlog's partial index) and the delivered
ones only when those are fewer than the limit: the same list as one query over the window's deliveries (the
SQL before, kept here as the oracle), on random histories with resolutions, replays and double acks."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import case

from console.domain.filters import DeliveryFilter
from console.store import Store, aggregates
from console.store.deliveries import D, E, matching_deliveries
from console.store.outstanding import is_resolved
from tests.test_backlog_buckets import START, H, ingest


def oracle(store: Store, flt: DeliveryFilter, limit: int) -> list[tuple[Any, ...]]:
    failed = (D.c.attempts - D.c.successes).label("failed")
    delivered = case((D.c.delivered_at.is_(None), 0), else_=1).label("delivered")
    query = (
        matching_deliveries(
            store.dialect,
            flt,
            *(D.c.event_id, D.c.endpoint_id, D.c.event_type, E.c.user_id, E.c.reward_id, E.c.amount),
            *(E.c.currency, D.c.attempts, failed, delivered, D.c.last_status_code, D.c.last_error),
            event=True,
        )
        .where(D.c.attempts > D.c.successes, ~is_resolved(D, store.dialect))
        .order_by(delivered, failed.desc(), D.c.first_attempt_at, D.c.event_id, D.c.endpoint_id)
        .limit(limit)
    )
    with store.read() as conn:
        return [(*head, bool(done), code, error) for *head, done, code, error in conn.execute(query)]


@pytest.mark.parametrize("seed", [3, 11])
def test_top_failing_equals_one_query_over_the_window(store: Store, seed: int) -> None:
    ingest(store, seed)
    filters = [
        DeliveryFilter(),
        DeliveryFilter(since_ms=START + 2 * H, until_ms=START + 6 * H),
        DeliveryFilter(endpoint_ids=("ep_b",)),
        DeliveryFilter(event_types=("reward.reversed",), since_ms=START + H),
    ]
    outstanding_seen = delivered_seen = False
    for flt in filters:
        for limit in (1, 5, 20, 60, 10_000):
            got = aggregates.top_failing(store, flt, limit)
            assert got == oracle(store, flt, limit), (flt, limit)
            outstanding_seen |= any(not row[-3] for row in got)
            delivered_seen |= any(row[-3] for row in got)
    assert outstanding_seen and delivered_seen  # both reads were exercised
