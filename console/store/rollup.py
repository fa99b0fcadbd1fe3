"""Rollup accumulation: counters and latency histograms per minute and per hour, merged into the tables.

A writer adds the attempts it inserted and the delivery transitions they caused, then `flush` merges the
sums into `rollup_minute`, `rollup_hour` and `failure_minute` (inside the writer's transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from console.domain.latency import bucket_of
from console.domain.outcomes import Outcome, error_kind_of
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store.dialect import Dialect

# Counter positions in an accumulator row; the histogram is the last element.
COUNTER_COLUMNS = (
    "attempts",
    "successes",
    "http_errors",
    "timeouts",
    "network_errors",
    "first_attempts",
    "first_successes",
    "deliveries",
    "delivered",
    "latency_count",
    "latency_sum",
)
N_COUNTERS = len(COUNTER_COLUMNS)
_OUTCOME_SLOT = {
    Outcome.SUCCESS.value: 1,
    Outcome.HTTP_ERROR.value: 2,
    Outcome.TIMEOUT.value: 3,
    Outcome.NETWORK_ERROR.value: 4,
}
_DELIVERIES, _DELIVERED = 7, 8
KEY_COLUMNS = ("bucket", "endpoint_id", "event_type", "trigger")
ROLLUP_TABLES = (("rollup_minute", MS_PER_MINUTE), ("rollup_hour", MS_PER_HOUR))

RollupKey = tuple[int, str, str, str]


def encode_hist(hist: dict[int, int]) -> str:
    return orjson.dumps(hist, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS).decode()


def decode_hist(text: str) -> dict[int, int]:
    return {int(k): v for k, v in orjson.loads(text).items()}


class RollupAccumulator:
    """Sums for one write batch, kept per grain (minute, hour)."""

    def __init__(self) -> None:
        self.grains: list[dict[RollupKey, list[Any]]] = [{} for _ in ROLLUP_TABLES]
        self.failures: dict[tuple[int, str, str, int, str], list[int]] = {}

    def _rows(self, at_ms: int, endpoint_id: str, event_type: str, trigger: str) -> Iterable[list[Any]]:
        for grain, (_, width) in zip(self.grains, ROLLUP_TABLES, strict=True):
            key = (at_ms // width, endpoint_id, event_type, trigger)
            row = grain.get(key)
            if row is None:
                row = grain[key] = [0] * N_COUNTERS + [{}]
                row[N_COUNTERS - 1] = 0.0
            yield row

    def add_attempt(
        self,
        at_ms: int,
        endpoint_id: str,
        event_type: str,
        trigger: str,
        attempt: int,
        outcome: str,
        status_code: int | None,
        latency_ms: float | None,
        error: str | None,
    ) -> None:
        slot = _OUTCOME_SLOT[outcome]
        success = slot == 1
        latency_bucket = bucket_of(latency_ms) if latency_ms is not None else None
        for row in self._rows(at_ms, endpoint_id, event_type, trigger):
            row[0] += 1
            row[slot] += 1
            if attempt == 1:
                row[5] += 1
                if success:
                    row[6] += 1
            if latency_bucket is not None:
                row[9] += 1
                row[10] += latency_ms
                hist = row[N_COUNTERS]
                hist[latency_bucket] = hist.get(latency_bucket, 0) + 1
        if not success:
            fkey = (
                at_ms // MS_PER_MINUTE,
                endpoint_id,
                event_type,
                status_code or 0,
                error_kind_of(error).value,
            )
            entry = self.failures.get(fkey)
            if entry is None:
                self.failures[fkey] = [1, at_ms]
            else:
                entry[0] += 1
                entry[1] = max(entry[1], at_ms)

    def add_delivery(
        self, at_ms: int, endpoint_id: str, event_type: str, trigger: str, count: int, delivered: int
    ) -> None:
        """Count (or with negative numbers, uncount) deliveries first tried at `at_ms`."""
        for row in self._rows(at_ms, endpoint_id, event_type, trigger):
            row[_DELIVERIES] += count
            row[_DELIVERED] += delivered

    def flush(self, conn: Connection, dialect: Dialect) -> None:
        """Merge every sum into the rollup tables."""
        for grain, (table, _) in zip(self.grains, ROLLUP_TABLES, strict=True):
            if grain:
                _merge_grain(conn, dialect, table, grain)
        if self.failures:
            _merge_failures(conn, dialect, self.failures)


def _merge_grain(conn: Connection, dialect: Dialect, table: str, grain: dict[RollupKey, list[Any]]) -> None:
    p = dialect.placeholder
    buckets = sorted({key[0] for key in grain})
    existing: dict[RollupKey, tuple[Any, ...]] = {}
    for start in range(0, len(buckets), dialect.max_params):
        chunk = buckets[start : start + dialect.max_params]
        marks = ", ".join(p for _ in chunk)
        sql = (
            f"SELECT {', '.join(KEY_COLUMNS + COUNTER_COLUMNS)}, latency_hist FROM {table} "
            f"WHERE bucket IN ({marks})"
        )
        for row in conn.exec_driver_sql(sql, tuple(chunk)):
            key = (row[0], row[1], row[2], row[3])
            if key in grain:
                existing[key] = tuple(row[4:])
    updates: list[tuple[Any, ...]] = []
    inserts: list[tuple[Any, ...]] = []
    for key, sums in grain.items():
        old = existing.get(key)
        hist: dict[int, int] = sums[N_COUNTERS]
        if old is None:
            inserts.append((*key, *sums[:N_COUNTERS], encode_hist(hist)))
            continue
        counters = [a + b for a, b in zip(old[:N_COUNTERS], sums[:N_COUNTERS], strict=True)]
        if hist:
            merged = decode_hist(old[N_COUNTERS])
            for b, c in hist.items():
                merged[b] = merged.get(b, 0) + c
            hist_text = encode_hist(merged)
        else:
            hist_text = old[N_COUNTERS]
        updates.append((*counters, hist_text, *key))
    if updates:
        assignments = ", ".join(f"{c} = {p}" for c in (*COUNTER_COLUMNS, "latency_hist"))
        where = " AND ".join(f"{c} = {p}" for c in KEY_COLUMNS)
        conn.exec_driver_sql(f"UPDATE {table} SET {assignments} WHERE {where}", updates)
    dialect.bulk_insert(conn, table, (*KEY_COLUMNS, *COUNTER_COLUMNS, "latency_hist"), inserts)


def _merge_failures(
    conn: Connection, dialect: Dialect, failures: dict[tuple[int, str, str, int, str], list[int]]
) -> None:
    p = dialect.placeholder
    rows = [(*key, count, last_at) for key, (count, last_at) in failures.items()]
    conn.exec_driver_sql(
        "INSERT INTO failure_minute (bucket, endpoint_id, event_type, status_code, error_kind, count, last_at) "
        f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) "
        "ON CONFLICT (bucket, endpoint_id, event_type, status_code, error_kind) DO UPDATE SET "
        "count = failure_minute.count + excluded.count, "
        "last_at = CASE WHEN excluded.last_at > failure_minute.last_at THEN excluded.last_at "
        "ELSE failure_minute.last_at END",
        rows,
    )
