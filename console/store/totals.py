"""All-time attempt totals per endpoint, from the hour rollups, at a cost that does not grow with history.

Hours before the current one ("sealed") are summed once and kept; each read adds the open hours afresh. The
sealed sums stay valid while no write adds attempts to a sealed hour and no rollup is pruned: attempts get
`seq` in commit order (writers serialise), so the check reads only the times of attempts written since the
previous read, and the first rollup hour. Anything else rebuilds the sums.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import func, select

from console.domain.alerts import EndpointTotals
from console.domain.times import MS_PER_HOUR
from console.store import tables
from console.store.engine import Store
from console.store.live import LAST_SEQ
from console.store.windows import RollupRow, rollup_rows

ATTEMPT = tables.delivery_attempt
FIRST_HOUR = select(func.min(tables.rollup_hour.c.bucket))


def _sum_rows(rows: Iterable[RollupRow]) -> dict[str, EndpointTotals]:
    """Sum rollup rows (as yielded by `rollup_rows`) per endpoint."""
    totals: dict[str, EndpointTotals] = {}
    for row in rows:
        endpoint_id = row.endpoint_id
        t = totals.get(endpoint_id)
        if t is None:
            t = totals[endpoint_id] = EndpointTotals(endpoint_id)
        c = row.counters
        t.attempts += c.attempts
        t.successes += c.successes
        t.http_errors += c.http_errors
        t.timeouts += c.timeouts
        t.network_errors += c.network_errors
        t.latency_count += c.latency_count
        t.latency_sum_ms += c.latency_sum
        hist_text = row.latency_hist
        if c.latency_count and hist_text != "{}":
            hist = t.hist
            for key, count in orjson.loads(hist_text).items():
                bucket = int(key)
                hist[bucket] = hist.get(bucket, 0) + count
    return totals


def _merge(into: dict[str, EndpointTotals], other: dict[str, EndpointTotals]) -> None:
    for endpoint_id, t in other.items():
        mine = into.get(endpoint_id)
        if mine is None:
            into[endpoint_id] = t.copy()
        else:
            mine.add(t)


class TotalsCache:
    """Keeps the sealed hours' sums between reads; `read` returns every endpoint's all-time totals."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sealed: dict[str, EndpointTotals] = {}
        self._sealed_until_ms: int | None = None  # sums cover hours before this
        self._seen_seq = 0
        self._first_hour: int | None = None
        self.rebuilds = 0

    def read(self, store: Store, now_ms: int) -> dict[str, EndpointTotals]:
        with self._lock, store.read() as conn:
            last_seq = int(conn.execute(LAST_SEQ).scalar_one())
            first_hour = conn.execute(FIRST_HOUR).scalar_one()
            boundary = now_ms // MS_PER_HOUR * MS_PER_HOUR
            if not self._still_valid(conn, last_seq, first_hour):
                self._sealed = _sum_rows(rollup_rows(conn, None, boundary))
                self._sealed_until_ms = boundary
                self.rebuilds += 1
            elif self._sealed_until_ms is not None and self._sealed_until_ms < boundary:
                _merge(self._sealed, _sum_rows(rollup_rows(conn, self._sealed_until_ms, boundary)))
                self._sealed_until_ms = boundary
            self._seen_seq = last_seq
            self._first_hour = first_hour
            assert self._sealed_until_ms is not None
            open_hours = _sum_rows(rollup_rows(conn, self._sealed_until_ms, None))
        result = {k: v.copy() for k, v in self._sealed.items()}
        _merge(result, open_hours)
        return result

    def _still_valid(self, conn: Any, last_seq: int, first_hour: int | None) -> bool:
        if self._sealed_until_ms is None or first_hour != self._first_hour or last_seq < self._seen_seq:
            return False
        if last_seq == self._seen_seq:
            return True
        written_since = select(func.min(ATTEMPT.c.attempted_at)).where(ATTEMPT.c.seq > self._seen_seq)
        earliest = conn.execute(written_since).scalar_one()
        return earliest is None or int(earliest) >= self._sealed_until_ms
