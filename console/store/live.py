"""Reads for the live console: the newest attempt, the failure feed, chart series, an event with its attempts.
Each is bounded by the window or by an index, so a refresh costs the same on a day or a year of history."""

from __future__ import annotations

import orjson

from console.domain.live import AttemptView, EventDetail, FailureRow, SeriesPoint
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store.engine import Store


def latest_seq(store: Store) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM delivery_attempt").scalar_one())


def recent_failures(store: Store, since_ms: int, until_ms: int, limit: int = 50) -> list[FailureRow]:
    """The newest failed attempts in [since, until): the failure rollup says which minutes to look in."""
    p = store.dialect.placeholder
    with store.read() as conn:
        minutes = [
            r[0]
            for r in conn.exec_driver_sql(
                f"SELECT DISTINCT bucket FROM failure_minute WHERE bucket >= {p} AND bucket <= {p} "
                f"ORDER BY bucket DESC LIMIT {int(limit)}",
                (since_ms // MS_PER_MINUTE, until_ms // MS_PER_MINUTE),
            )
        ]
        if not minutes:
            return []
        start = max(min(minutes) * MS_PER_MINUTE, since_ms)
        rows = conn.exec_driver_sql(
            "SELECT seq, attempted_at, event_id, endpoint_id, event_type, attempt, status_code, outcome, error "
            f"FROM delivery_attempt WHERE attempted_at >= {p} AND attempted_at < {p} AND outcome <> 'success' "
            f"ORDER BY attempted_at DESC, seq DESC LIMIT {int(limit)}",
            (start, until_ms),
        ).fetchall()
    return [FailureRow(*r) for r in rows]


def success_series(store: Store, since_ms: int, until_ms: int, points: int = 60) -> list[SeriesPoint]:
    """Attempts and successes in `points` equal slices of the window (minute rollups up to a day, hours beyond)."""
    hourly = until_ms - since_ms > 2 * 24 * MS_PER_HOUR
    table, width = ("rollup_hour", MS_PER_HOUR) if hourly else ("rollup_minute", MS_PER_MINUTE)
    p = store.dialect.placeholder
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT bucket, SUM(attempts), SUM(successes) FROM {table} WHERE bucket >= {p} AND bucket < {p} GROUP BY bucket",
            (since_ms // width, -(-until_ms // width)),
        ).fetchall()
    step = max((until_ms - since_ms) // points, width)
    slices = [[since_ms + i * step, 0, 0] for i in range(-(-(until_ms - since_ms) // step))]
    for bucket, attempts, successes in rows:
        index = min(max((bucket * width - since_ms) // step, 0), len(slices) - 1)
        slices[index][1] += int(attempts)
        slices[index][2] += int(successes)
    return [SeriesPoint(*s) for s in slices]


def undelivered_backlog(store: Store) -> tuple[int, int | None]:
    """Every undelivered delivery, whenever first tried, and the oldest one's first attempt (partial index)."""
    with store.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT COUNT(*), MIN(first_attempt_at) FROM delivery WHERE delivered_at IS NULL"
        ).first()
    return (int(row[0]), row[1]) if row else (0, None)


def event_detail(store: Store, event_id: str) -> EventDetail | None:
    p = store.dialect.placeholder
    with store.read() as conn:
        event = conn.exec_driver_sql(
            "SELECT event_id, event_type, occurred_at, payload, user_id, reward_id, amount, currency FROM event "
            f"WHERE event_id = {p}",
            (event_id,),
        ).first()
        if event is None:
            return None
        attempts = conn.exec_driver_sql(
            "SELECT seq, endpoint_id, attempt, attempted_at, status_code, latency_ms, outcome, error, trigger, "
            f"replay_job_id, request_headers, response_excerpt FROM delivery_attempt WHERE event_id = {p} "
            "ORDER BY attempted_at, seq",
            (event_id,),
        ).fetchall()
        endpoints = [
            r[0]
            for r in conn.exec_driver_sql(
                f"SELECT endpoint_id FROM delivery WHERE event_id = {p} ORDER BY endpoint_id", (event_id,)
            )
        ]
    views = tuple(
        AttemptView(
            seq=a[0],
            endpoint_id=a[1],
            attempt=a[2],
            attempted_at_ms=a[3],
            status_code=a[4],
            latency_ms=a[5],
            outcome=a[6],
            error=a[7],
            trigger=a[8],
            replay_job_id=a[9],
            request_headers=orjson.loads(a[10]) if a[10] else None,
            response_excerpt=a[11],
        )
        for a in attempts
    )
    return EventDetail(
        event[0],
        event[1],
        event[2],
        bytes(event[3] or b""),
        event[4],
        event[5],
        event[6],
        event[7],
        views,
        tuple(endpoints),
    )


def known_endpoints(store: Store) -> list[str]:
    with store.read() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT id FROM endpoint ORDER BY id")]


def known_event_types(store: Store) -> list[str]:
    with store.read() as conn:
        return [
            r[0]
            for r in conn.exec_driver_sql("SELECT DISTINCT event_type FROM rollup_hour ORDER BY event_type")
        ]
