"""Running totals behind /metrics: counters that only go up, counted as attempts reach the store.

Each scrape folds the attempts written since the previous fold (by `seq`, which grows in commit order: writers
serialise) into `metric_total`, in one write transaction, so the counters are shared by every `watch` on the
store, survive restarts and never go down: pruning attempts or rollups does not touch them. A scrape costs the
attempts that arrived since the last one (at most `FOLD_CHUNK`, the rest at the next scrape), never the history.

Late history is not traffic: an attempt more than `LATE_AFTER_MS` older than the newest attempt counted so far
(a backfill, a log from two days ago) is counted only in its own series (`late|<outcome>`), not in the attempt,
delivery, failure and latency series that rate-based rules read. The first fold on a store seeds the totals from
the hour rollups and the failure rollup (once: after that the rollups are never summed again); the seeded
latency histogram places each 5%-wide rollup bucket at its midpoint, every attempt folded after is placed by its
exact latency (`le` edges inclusive: a 30 s timeout is in `le="30"`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection

from console.domain.gaps import DEFAULT_MAX_TRIES
from console.domain.latency import midpoint
from console.domain.outcomes import error_kind_of
from console.domain.times import MS_PER_MINUTE
from console.store import tables
from console.store.engine import Store
from console.store.live import LAST_SEQ
from console.store.windows import rollup_rows

LE_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0)
LATE_AFTER_MS = 15 * MS_PER_MINUTE
FOLD_CHUNK = 100_000
BOOK = ""  # the endpoint id of the bookkeeping rows
SEEN_SEQ, FRONTIER, MAX_TRIES = "seq", "frontier", "max_tries"
FAILURE_MINUTE = tables.failure_minute
TOTAL = tables.metric_total


def le_index(latency_ms: float) -> int:
    """The first `le` (index into LE_SECONDS) holding a latency, len(LE_SECONDS) for +Inf; edges inclusive."""
    for index, bound in enumerate(LE_SECONDS):
        if latency_ms <= bound * 1000:
            return index
    return len(LE_SECONDS)


def failure_reason(status_code: int | None, error: str | None) -> str:
    """A failed attempt's reason: its status class (`http_5xx`) or its transport error kind (`timeout`)."""
    if status_code:
        return f"http_{status_code // 100}xx"
    return error_kind_of(error).value or "other"


@dataclass
class EndpointSeries:
    """One endpoint's running totals, by series name (see the module docstring)."""

    values: dict[str, float] = field(default_factory=dict)

    def get(self, series: str) -> float:
        return self.values.get(series, 0.0)

    def histogram(self) -> list[int]:
        """Counts per `le` index (not cumulative), +Inf last."""
        return [int(self.get(f"le|{i}")) for i in range(len(LE_SECONDS) + 1)]


def _le_case() -> str:
    arms = " ".join(f"WHEN a.latency_ms <= {bound * 1000:g} THEN {i}" for i, bound in enumerate(LE_SECONDS))
    return f"CASE WHEN a.latency_ms IS NULL THEN -1 {arms} ELSE {len(LE_SECONDS)} END"


_EARLIER = (
    "EXISTS (SELECT 1 FROM delivery_attempt b WHERE b.event_id = a.event_id "
    "AND b.endpoint_id = a.endpoint_id AND b.seq < a.seq{extra})"
)


def _fold_sql(p: str, max_tries: int) -> str:
    first = "NOT " + _EARLIER.format(extra="")
    first_success = "NOT " + _EARLIER.format(extra=" AND b.outcome = 'success'")
    # the dispatcher's last scheduled try failed, none before it succeeded: it gives the delivery up
    last_try = f"a.trigger = 'scheduled' AND a.attempt = {int(max_tries)} AND a.outcome <> 'success'"
    return (
        "SELECT a.endpoint_id, a.outcome, a.status_code, a.error, "
        f"CASE WHEN a.attempted_at < {p} THEN 1 ELSE 0 END, {_le_case()}, "
        "COUNT(*), COALESCE(SUM(a.latency_ms), 0), "
        f"SUM(CASE WHEN {first} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN a.outcome = 'success' AND {first} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN a.outcome = 'success' AND {first_success} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {last_try} AND {first_success} THEN 1 ELSE 0 END), "
        "MAX(a.attempted_at) "
        f"FROM delivery_attempt a WHERE a.seq > {p} AND a.seq <= {p} GROUP BY 1, 2, 3, 4, 5, 6"
    )


def _add_rows(adds: dict[tuple[str, str], float], rows: Iterable[Any]) -> int | None:
    """Add folded groups into `adds`; returns the newest attempt time among those not late."""
    newest: int | None = None
    for (
        endpoint_id,
        outcome,
        status,
        error,
        late,
        le,
        count,
        latency_sum,
        first,
        first_ok,
        delivered,
        given_up,
        last,
    ) in rows:
        if late:
            adds[(endpoint_id, f"late|{outcome}")] += count
            continue
        newest = last if newest is None else max(newest, last)
        adds[(endpoint_id, f"attempts|{outcome}")] += count
        if outcome != "success":
            adds[(endpoint_id, f"failures|{failure_reason(status, error)}")] += count
        if le >= 0:
            adds[(endpoint_id, f"le|{le}")] += count
            adds[(endpoint_id, "latency_sum_ms")] += float(latency_sum)
        adds[(endpoint_id, "deliveries")] += first or 0
        adds[(endpoint_id, "first_delivered")] += first_ok or 0
        adds[(endpoint_id, "delivered")] += delivered or 0
        adds[(endpoint_id, "given_up")] += given_up or 0
    return newest


def _seed(conn: Connection, adds: dict[tuple[str, str], float], max_tries: int) -> None:
    """The totals of a store folded for the first time: everything its rollups hold (once), and the
    deliveries given up so far (undelivered after the dispatcher's last try) from the delivery table."""
    d = tables.delivery.c
    given_up = (
        select(d.endpoint_id, func.count())
        .where(d.delivered_at.is_(None), d.max_attempt >= max_tries)
        .group_by(d.endpoint_id)
    )
    for endpoint_id, count in conn.execute(given_up):
        adds[(endpoint_id, "given_up")] += count
    for row in rollup_rows(conn, None, None):
        c, e = row.counters, row.endpoint_id
        for outcome, count in (
            ("success", c.successes),
            ("http_error", c.http_errors),
            ("timeout", c.timeouts),
            ("network_error", c.network_errors),
        ):
            if count:
                adds[(e, f"attempts|{outcome}")] += count
        adds[(e, "deliveries")] += c.deliveries
        adds[(e, "first_delivered")] += c.first_successes
        adds[(e, "delivered")] += c.delivered
        adds[(e, "latency_sum_ms")] += c.latency_sum
        if c.latency_count and row.latency_hist != "{}":
            for key, count in orjson.loads(row.latency_hist).items():
                adds[(e, f"le|{le_index(midpoint(int(key)))}")] += count
    f = FAILURE_MINUTE.c
    for endpoint_id, status, kind, count in conn.execute(
        select(f.endpoint_id, f.status_code, f.error_kind, f.count)
    ):
        reason = f"http_{status // 100}xx" if status else (kind or "other")
        adds[(endpoint_id, f"failures|{reason}")] += count


def _book(conn: Connection) -> dict[str, float]:
    query = select(TOTAL.c.series, TOTAL.c.value).where(TOTAL.c.endpoint_id == BOOK)
    return {series: float(value) for series, value in conn.execute(query).all()}


def fold(store: Store, now_ms: int, chunk: int | None = FOLD_CHUNK, max_tries: int | None = None) -> int:
    """Fold the attempts written since the last fold (at most `chunk`) into the totals; returns how many
    `seq` values were covered. Writers serialise, so two processes never fold the same attempts."""
    with store.read() as conn:
        last_seq = int(conn.execute(LAST_SEQ).scalar_one())
        book = _book(conn)
    if SEEN_SEQ in book and int(book[SEEN_SEQ]) == last_seq:
        return 0  # nothing new: no write lock taken
    with store.write() as conn:
        return fold_in(conn, store.dialect.placeholder, now_ms, chunk, max_tries)


def fold_in(conn: Connection, p: str, now_ms: int, chunk: int | None, max_tries: int | None = None) -> int:
    """`fold` in the caller's write transaction (`p`: the driver's placeholder). `max_tries`: the dispatcher's
    maximum attempts, for "given up" (None: the one the store's last `watch` said, else the default); kept in
    the store, so a prune's fold counts as `watch` does."""
    adds: dict[tuple[str, str], float] = defaultdict(float)
    book = _book(conn)
    if max_tries is None:
        max_tries = int(book.get(MAX_TRIES, DEFAULT_MAX_TRIES))
    last_seq = int(conn.execute(LAST_SEQ).scalar_one())
    if SEEN_SEQ not in book:
        _seed(conn, adds, max_tries)
        seen, upto = last_seq, last_seq
        newest_row = conn.exec_driver_sql("SELECT MAX(attempted_at) FROM delivery_attempt").scalar()
        frontier = min(int(newest_row or 0), now_ms)
    else:
        seen = min(int(book[SEEN_SEQ]), last_seq)
        upto = last_seq if chunk is None else min(last_seq, seen + chunk)
        frontier = int(book.get(FRONTIER, 0))
        late_before = min(frontier, now_ms) - LATE_AFTER_MS
        rows = conn.exec_driver_sql(_fold_sql(p, max_tries), (late_before, seen, upto)).all()
        newest = _add_rows(adds, rows)
        if newest is not None:
            frontier = max(frontier, min(int(newest), now_ms))
    p3 = f"({p}, {p}, {p})"
    if adds:
        conn.exec_driver_sql(
            f"INSERT INTO metric_total (endpoint_id, series, value) VALUES {p3} ON CONFLICT (endpoint_id, "
            "series) DO UPDATE SET value = metric_total.value + excluded.value",
            [(e, s, v) for (e, s), v in adds.items() if v],
        )
    conn.exec_driver_sql(
        f"INSERT INTO metric_total (endpoint_id, series, value) VALUES {p3}, {p3}, {p3} ON CONFLICT "
        "(endpoint_id, series) DO UPDATE SET value = excluded.value",
        (BOOK, SEEN_SEQ, float(upto), BOOK, FRONTIER, float(frontier), BOOK, MAX_TRIES, float(max_tries)),
    )
    return upto - seen


def has_totals(conn: Connection) -> bool:
    """Whether the store keeps running totals (a `watch` has served metrics from it)."""
    return bool(inspect(conn).has_table("metric_total")) and SEEN_SEQ in _book(conn)


def before_attempts_deleted(conn: Connection, p: str, now_ms: int) -> None:
    """Called by a prune in its write transaction before it deletes attempts: count what is not counted yet,
    so nothing is pruned uncounted."""
    fold_in(conn, p, now_ms, None)


def after_attempts_deleted(conn: Connection) -> None:
    """Called by a prune after it deleted attempts: on SQLite the next attempt reuses the `seq` after the
    newest left, which may be below what was counted; count from there, so those attempts are not missed."""
    last_seq = int(conn.execute(LAST_SEQ).scalar_one())
    conn.execute(
        TOTAL.update()
        .where(TOTAL.c.endpoint_id == BOOK, TOTAL.c.series == SEEN_SEQ, TOTAL.c.value > last_seq)
        .values(value=float(last_seq))
    )


def read_totals(store: Store) -> dict[str, EndpointSeries]:
    """Every endpoint's running totals."""
    found: dict[str, EndpointSeries] = {}
    query = select(TOTAL.c.endpoint_id, TOTAL.c.series, TOTAL.c.value).where(TOTAL.c.endpoint_id != BOOK)
    with store.read() as conn:
        for endpoint_id, series, value in conn.execute(query):
            found.setdefault(endpoint_id, EndpointSeries()).values[series] = float(value)
    return found


class RunningTotals:
    """Folds, then reads, for one scrape at a time (scrapes of one process do not fold side by side)."""

    def __init__(self, max_tries: int = DEFAULT_MAX_TRIES) -> None:
        self._lock = threading.Lock()
        self.max_tries = max_tries
        self.folded = 0  # seq values folded by this process, for tests and benchmarks

    def read(self, store: Store, now_ms: int) -> dict[str, EndpointSeries]:
        with self._lock:
            self.folded += fold(store, now_ms, max_tries=self.max_tries)
            return read_totals(store)
