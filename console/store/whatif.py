"""Reads for what-if retry policies: per-minute endpoint health from `rollup_minute` (streamed), the deliveries
first tried in a window (keyset pages, bounded memory) and the observed peak of attempts per second."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from console.domain.times import MS_PER_MINUTE
from console.store.engine import Store


def _endpoints(
    store: Store, endpoint_ids: Sequence[str], column: str = "endpoint_id"
) -> tuple[str, list[Any]]:
    """` AND column IN (...)` and its parameters; nothing when no endpoint is named."""
    if not endpoint_ids:
        return "", []
    clause, params = store.dialect.in_list(column, endpoint_ids)
    return f" AND {clause}", params


def endpoint_health(
    store: Store, since_ms: int, until_ms: int, endpoint_ids: Sequence[str]
) -> Iterator[tuple[str, int, int, int]]:
    """(endpoint_id, minute, attempts, successes) for the minutes in [since, until) that had attempts, by
    endpoint then minute; streamed (a server-side cursor on PostgreSQL), so the caller keeps what it folds."""
    p = store.dialect.placeholder
    where, params = _endpoints(store, endpoint_ids)
    sql = (
        "SELECT endpoint_id, bucket, SUM(attempts), SUM(successes) FROM rollup_minute "
        f"WHERE bucket >= {p} AND bucket < {p}{where} GROUP BY endpoint_id, bucket ORDER BY endpoint_id, bucket"
    )
    start, end = since_ms // MS_PER_MINUTE, -(-until_ms // MS_PER_MINUTE)
    with store.read() as conn:
        result = conn.exec_driver_sql(sql, (start, end, *params), execution_options={"stream_results": True})
        for endpoint_id, minute, attempts, successes in result:
            yield endpoint_id, int(minute), int(attempts), int(successes)


def history_end_ms(store: Store) -> int | None:
    """The end of the last minute with any recorded attempt."""
    with store.read() as conn:
        last = conn.exec_driver_sql("SELECT MAX(bucket) FROM rollup_minute").scalar_one()
    return None if last is None else (int(last) + 1) * MS_PER_MINUTE


def _first_tried(
    store: Store,
    until_ms: int,
    endpoint_ids: Sequence[str],
    start_ms: int,
    after: tuple[int, str, str] | None,
) -> tuple[str, list[Any]]:
    """`FROM delivery d WHERE ...`: the deliveries first tried (scheduled) in [start, until) after `after`."""
    p = store.dialect.placeholder
    endpoints, endpoint_params = _endpoints(store, endpoint_ids, "d.endpoint_id")
    keyset, keyset_params = "", list[Any]()
    if after is not None:
        keyset = (
            f" AND (d.first_attempt_at > {p} OR (d.first_attempt_at = {p} AND (d.event_id > {p} OR "
            f"(d.event_id = {p} AND d.endpoint_id > {p}))))"
        )
        at, event_id, endpoint_id = after
        keyset_params = [at, at, event_id, event_id, endpoint_id]
    where = (
        f"FROM delivery d WHERE d.first_attempt_at >= {p} AND d.first_attempt_at < {p} "
        f"AND d.first_trigger = 'scheduled'{endpoints}{keyset}"
    )
    return where, [start_ms, until_ms, *endpoint_params, *keyset_params]


def first_tried_pages(
    store: Store, since_ms: int, until_ms: int, endpoint_ids: Sequence[str], page: int = 20_000
) -> Iterator[list[tuple[str, int, bool, int | None]]]:
    """(endpoint_id, first_attempt_at, first attempt succeeded, delivered_at) of the deliveries whose first
    attempt was a scheduled one in [since, until), oldest first, `page` at a time.

    Keyset pages whose both ends bound the index range on `first_attempt_at`: a page starts at the last time
    seen and ends at the time of its own last delivery (found first, by walking the index in time order), so
    it reads its own rows and the ties at its ends, whatever the planner's sort strategy: the window is read
    once, not once per page."""
    after: tuple[int, str, str] | None = None
    start = since_ms
    columns = "d.endpoint_id, d.first_attempt_at, d.first_outcome, d.delivered_at, d.event_id"
    order = "ORDER BY d.first_attempt_at, d.event_id, d.endpoint_id"
    while True:
        where, params = _first_tried(store, until_ms, endpoint_ids, start, after)
        with store.read() as conn:
            end = conn.exec_driver_sql(
                f"SELECT d.first_attempt_at {where} ORDER BY d.first_attempt_at LIMIT 1 OFFSET {int(page) - 1}",
                tuple(params),
            ).scalar()
            # the page ends at its last delivery's time (ties included), or at the window's end
            where, params = _first_tried(
                store, until_ms if end is None else int(end) + 1, endpoint_ids, start, after
            )
            rows = conn.exec_driver_sql(
                f"SELECT {columns} {where} {order} LIMIT {int(page)}", tuple(params)
            ).fetchall()
        if not rows:
            return
        yield [
            (
                endpoint_id,
                int(first_at),
                outcome == "success",
                None if delivered_at is None else int(delivered_at),
            )
            for endpoint_id, first_at, outcome, delivered_at, _event_id in rows
        ]
        if len(rows) < page:
            return
        last_endpoint, last_at, _, _, last_event = rows[-1]
        after = (int(last_at), last_event, last_endpoint)
        start = int(last_at)


def observed_peaks(store: Store, since_ms: int, until_ms: int, endpoint_ids: Sequence[str]) -> dict[str, int]:
    """The most scheduled attempts each endpoint received in one second of [since, until)."""
    p = store.dialect.placeholder
    where, params = _endpoints(store, endpoint_ids)
    sql = (
        "SELECT endpoint_id, MAX(n) FROM (SELECT endpoint_id, attempted_at / 1000 AS s, COUNT(*) AS n "
        f"FROM delivery_attempt WHERE attempted_at >= {p} AND attempted_at < {p} AND trigger = 'scheduled'{where} "
        "GROUP BY endpoint_id, attempted_at / 1000) per_second GROUP BY endpoint_id"
    )
    with store.read() as conn:
        return {
            endpoint_id: int(peak)
            for endpoint_id, peak in conn.exec_driver_sql(sql, (since_ms, until_ms, *params))
        }


def observed_attempts(
    store: Store, since_ms: int, until_ms: int, endpoint_ids: Sequence[str]
) -> dict[str, int]:
    """Scheduled attempts per endpoint in [since, until), from the minute rollups."""
    p = store.dialect.placeholder
    where, params = _endpoints(store, endpoint_ids)
    sql = (
        "SELECT endpoint_id, SUM(attempts) FROM rollup_minute WHERE bucket >= "
        f"{p} AND bucket < {p} AND trigger = 'scheduled'{where} GROUP BY endpoint_id"
    )
    start, end = since_ms // MS_PER_MINUTE, -(-until_ms // MS_PER_MINUTE)
    with store.read() as conn:
        return {
            endpoint_id: int(count) for endpoint_id, count in conn.exec_driver_sql(sql, (start, end, *params))
        }
