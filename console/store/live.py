"""Reads for the live console: the newest attempt, the failure feed, chart series, an event with its attempts.
Each is bounded by the window or by an index, so a refresh costs the same on a day or a year of history."""

from __future__ import annotations

import orjson
from sqlalchemy import desc, func, select

from console.domain.live import AttemptView, EventDetail, FailureRow, SeriesPoint
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store import tables
from console.store.engine import Store
from console.store.outstanding import outstanding
from console.store.resolutions import history

EVENT = tables.event
ATTEMPT = tables.delivery_attempt
DELIVERY = tables.delivery
FAILURE_MINUTE = tables.failure_minute


LAST_SEQ = select(func.coalesce(func.max(ATTEMPT.c.seq), 0))  # the newest attempt's seq, 0 in an empty store


def latest_seq(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(LAST_SEQ).scalar_one())


def recent_failures(store: Store, since_ms: int, until_ms: int, limit: int = 50) -> list[FailureRow]:
    """The newest failed attempts in [since, until): the failure rollup says which minutes to look in."""
    f, a = FAILURE_MINUTE, ATTEMPT
    failed_minutes = (
        select(f.c.bucket)
        .distinct()
        .where(f.c.bucket >= since_ms // MS_PER_MINUTE, f.c.bucket <= until_ms // MS_PER_MINUTE)
        .order_by(desc(f.c.bucket))
        .limit(limit)
    )
    with store.read() as conn:
        minutes = list(conn.execute(failed_minutes).scalars())
        if not minutes:
            return []
        start = max(min(minutes) * MS_PER_MINUTE, since_ms)
        newest_failed = (
            select(
                a.c.seq,
                a.c.attempted_at,
                a.c.event_id,
                a.c.endpoint_id,
                a.c.event_type,
                a.c.attempt,
                a.c.status_code,
                a.c.outcome,
                a.c.error,
            )
            .where(a.c.attempted_at >= start, a.c.attempted_at < until_ms, a.c.outcome != "success")
            .order_by(desc(a.c.attempted_at), desc(a.c.seq))
            .limit(limit)
        )
        rows = conn.execute(newest_failed).fetchall()
    return [
        FailureRow(
            seq=r.seq,
            attempted_at_ms=r.attempted_at,
            event_id=r.event_id,
            endpoint_id=r.endpoint_id,
            event_type=r.event_type,
            attempt=r.attempt,
            status_code=r.status_code,
            outcome=r.outcome,
            error=r.error,
        )
        for r in rows
    ]


def success_series(store: Store, since_ms: int, until_ms: int, points: int = 60) -> list[SeriesPoint]:
    """Attempts and successes in `points` equal slices of the window (minute rollups up to a day, hours beyond)."""
    hourly = until_ms - since_ms > 2 * 24 * MS_PER_HOUR
    rollup, width = (tables.rollup_hour, MS_PER_HOUR) if hourly else (tables.rollup_minute, MS_PER_MINUTE)
    query = (
        select(rollup.c.bucket, func.sum(rollup.c.attempts), func.sum(rollup.c.successes))
        .where(rollup.c.bucket >= since_ms // width, rollup.c.bucket < -(-until_ms // width))
        .group_by(rollup.c.bucket)
    )
    with store.read() as conn:
        rows = conn.execute(query).fetchall()
    step = max((until_ms - since_ms) // points, width)
    slices = [[since_ms + i * step, 0, 0] for i in range(-(-(until_ms - since_ms) // step))]
    for bucket, attempts, successes in rows:
        index = min(max((bucket * width - since_ms) // step, 0), len(slices) - 1)
        slices[index][1] += int(attempts)
        slices[index][2] += int(successes)
    return [SeriesPoint(*s) for s in slices]


def undelivered_backlog(store: Store) -> tuple[int, int | None]:
    """Every outstanding delivery (undelivered, not resolved), whenever first tried, and the oldest one's first
    attempt (partial index)."""
    d = DELIVERY
    query = select(func.count(), func.min(d.c.first_attempt_at)).where(outstanding(d, store.dialect))
    with store.read() as conn:
        count, oldest = conn.execute(query).one()
    return int(count), oldest


def event_detail(store: Store, event_id: str) -> EventDetail | None:
    e, a, d = EVENT, ATTEMPT, DELIVERY
    with store.read() as conn:
        event = conn.execute(select(*e.c).where(e.c.event_id == event_id)).first()
        if event is None:
            return None
        attempts = conn.execute(
            select(*(c for c in a.c if c.name != "event_type"))
            .where(a.c.event_id == event_id)
            .order_by(a.c.attempted_at, a.c.seq)
        ).fetchall()
        endpoints = conn.execute(
            select(d.c.endpoint_id).where(d.c.event_id == event_id).order_by(d.c.endpoint_id)
        ).scalars()
        endpoint_ids = tuple(endpoints)
    resolutions = tuple(history(store, event_id))
    views = tuple(
        AttemptView(
            seq=r.seq,
            endpoint_id=r.endpoint_id,
            attempt=r.attempt,
            attempted_at_ms=r.attempted_at,
            status_code=r.status_code,
            latency_ms=r.latency_ms,
            outcome=r.outcome,
            error=r.error,
            trigger=r.trigger,
            replay_job_id=r.replay_job_id,
            request_headers=orjson.loads(r.request_headers) if r.request_headers else None,
            response_excerpt=r.response_excerpt,
        )
        for r in attempts
    )
    return EventDetail(
        event.event_id,
        event.event_type,
        event.occurred_at,
        bytes(event.payload or b""),
        event.user_id,
        event.reward_id,
        event.amount,
        event.currency,
        views,
        endpoint_ids,
        resolutions,
    )


def known_endpoints(store: Store) -> list[str]:
    endpoint = tables.endpoint
    with store.read() as conn:
        return list(conn.execute(select(endpoint.c.id).order_by(endpoint.c.id)).scalars())


def endpoint_sources(store: Store) -> dict[str, list[str]]:
    """The stored endpoints of each dispatcher tenant (endpoint.source, docs/sources.md); log files' are not
    listed. Empty on a store from before version 3 opened read-only."""
    if not store.dialect.endpoint_source:
        return {}
    endpoint = tables.endpoint
    found: dict[str, list[str]] = {}
    query = select(endpoint.c.source, endpoint.c.id).where(endpoint.c.source.is_not(None))
    with store.read() as conn:
        for source, endpoint_id in conn.execute(query.order_by(endpoint.c.source, endpoint.c.id)):
            found.setdefault(source, []).append(endpoint_id)
    return found


def known_event_types(store: Store) -> list[str]:
    event_type = tables.rollup_hour.c.event_type
    with store.read() as conn:
        return list(conn.execute(select(event_type).distinct().order_by(event_type)).scalars())
