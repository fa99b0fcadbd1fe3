"""What a firing notification says about an endpoint's failures: bounded reads for one endpoint and window.

Each query is capped (`LIMIT`) and reads an index or the minute rollups, so a notification costs the same on a
year of history as on a day: the failure breakdown from `failure_minute` over the window, sample event ids from
the window's latest failed attempts (`ix_attempt_time`), or else from the oldest undelivered deliveries
(`ix_delivery_undelivered`).
"""

from __future__ import annotations

from sqlalchemy import desc, func, select

from console.domain.alerts import FailureCount
from console.domain.outcomes import Outcome
from console.domain.times import MS_PER_MINUTE
from console.store import tables
from console.store.engine import Store
from console.store.outstanding import outstanding

FAILURE_MINUTE = tables.failure_minute
ATTEMPT = tables.delivery_attempt
DELIVERY = tables.delivery
# The latest attempts of the window read to find distinct failed events (the scan's bound, whatever the traffic).
SAMPLE_SCAN = 500


def failure_breakdown(store: Store, endpoint_id: str, since_ms: int, limit: int = 8) -> list[FailureCount]:
    """The endpoint's failed attempts since `since_ms` (minute resolution) by status code and error kind,
    the most frequent first, at most `limit` kinds."""
    f = FAILURE_MINUTE.c
    total = func.sum(f.count)
    query = (
        select(f.status_code, f.error_kind, total)
        .where(f.endpoint_id == endpoint_id, f.bucket >= since_ms // MS_PER_MINUTE)
        .group_by(f.status_code, f.error_kind)
        .order_by(desc(total), f.status_code, f.error_kind)
        .limit(limit)
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [FailureCount(int(code) or None, str(kind), int(count)) for code, kind, count in rows if count]


def sample_events(store: Store, endpoint_id: str, since_ms: int, limit: int = 5) -> list[str]:
    """Up to `limit` event ids worth looking at: the window's latest failed attempts (newest first), or, when
    none failed in the window, the oldest undelivered deliveries."""
    a, d = ATTEMPT.c, DELIVERY.c
    latest = (
        select(a.event_id, a.outcome)
        .where(a.endpoint_id == endpoint_id, a.attempted_at >= since_ms)
        .order_by(desc(a.attempted_at))
        .limit(SAMPLE_SCAN)
    )
    oldest = (
        select(d.event_id)
        .where(d.endpoint_id == endpoint_id, outstanding(DELIVERY, store.dialect))
        .order_by(d.first_attempt_at)
        .limit(limit)
    )
    with store.read() as conn:
        found: list[str] = []
        for event_id, outcome in conn.execute(latest):
            if outcome != Outcome.SUCCESS.value and event_id not in found:
                found.append(event_id)
                if len(found) == limit:
                    break
        if found:
            return found
        return list(conn.execute(oldest).scalars())
