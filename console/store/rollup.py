"""Rollup accumulation: counters and histograms per minute and per hour, merged into the tables.

A writer adds the attempts it inserted and the delivery transitions they caused, then `flush` merges the
sums into `rollup_minute`, `rollup_hour` and `failure_minute` (inside the writer's transaction). Sums are kept
per minute; the hour sums are derived from them at flush time.

Besides the attempts' latency histogram, each row holds two histograms of its delivered deliveries (in the
bucket and trigger of their first attempt, like `deliveries` and `delivered`): `retries_hist`, the attempt
number that delivered, and `ttd_hist`, the time from first attempt to delivery in latency buckets
(console.domain.latency; integer milliseconds, so bucket 0 holds exactly 0 ms). A delivery's contribution is
a function of its state, so the writer takes the old state's out and puts the new one's in, as it does for the
counters: duplicates, out-of-order attempts and replay results keep them exact.

By the same rule the accumulator counts each delivered delivery once more, in the minute it was first
delivered (`closed`, merged into `closed_minute` and `closed_hour` by console.store.closed_counts): what leaves
the backlog per bucket, where the rollups' `deliveries` is what enters it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Final

import orjson
from sqlalchemy.engine import Connection

from console.domain.latency import FLOOR_MS, RATIO, bucket_of
from console.domain.outcomes import Outcome, error_kind_of
from console.domain.records import (
    A_ATTEMPT,
    A_ATTEMPTED_AT_MS,
    A_ENDPOINT_ID,
    A_ERROR,
    A_EVENT_TYPE,
    A_LATENCY_MS,
    A_OUTCOME,
    A_STATUS_CODE,
    A_TRIGGER,
    AttemptRecord,
)
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store import closed_counts
from console.store.bucket_merge import stored_rows
from console.store.dialect import Dialect, dialect_for

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
_ATTEMPTS = COUNTER_COLUMNS.index("attempts")
_SUCCESSES = COUNTER_COLUMNS.index("successes")
_FIRST_ATTEMPTS = COUNTER_COLUMNS.index("first_attempts")
_FIRST_SUCCESSES = COUNTER_COLUMNS.index("first_successes")
_DELIVERIES = COUNTER_COLUMNS.index("deliveries")
_DELIVERED = COUNTER_COLUMNS.index("delivered")
_LATENCY_COUNT = COUNTER_COLUMNS.index("latency_count")
_LATENCY_SUM = COUNTER_COLUMNS.index("latency_sum")
_HIST = N_COUNTERS
_RETRIES = N_COUNTERS + 1
_TTD = N_COUNTERS + 2
HIST_COLUMNS = ("latency_hist", "retries_hist", "ttd_hist")
N_HISTS = len(HIST_COLUMNS)
_OUTCOME_SLOT = {
    Outcome.SUCCESS.value: _SUCCESSES,
    Outcome.HTTP_ERROR.value: COUNTER_COLUMNS.index("http_errors"),
    Outcome.TIMEOUT.value: COUNTER_COLUMNS.index("timeouts"),
    Outcome.NETWORK_ERROR.value: COUNTER_COLUMNS.index("network_errors"),
}
# A failure entry: how many, and the latest time.
FAILURE_COUNT, FAILURE_LAST_AT = 0, 1
KEY_COLUMNS = ("bucket", "endpoint_id", "event_type", "trigger")
MINUTES_PER_HOUR = 60

RollupKey = tuple[int, str, str, str]
_LOG_RATIO = math.log(RATIO)

# Latencies repeat (logs round them): one log() per distinct value.
_LATENCY_BUCKETS: dict[float, int] = {}
_LATENCY_BUCKETS_MAX = 100_000
FailureKey = tuple[int, str, str, int, str]


def encode_hist(hist: dict[int, int]) -> str:
    return orjson.dumps(hist, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS).decode()


def decode_hist(text: str) -> dict[int, int]:
    return {int(k): v for k, v in orjson.loads(text).items()}


TTD_MAX_BUCKET = 700  # 0.1 ms * 1.05**700: thousands of years (a latency's buckets stop at hours)


def ttd_bucket_of(ms: int) -> int:
    """The `ttd_hist` bucket of a time to delivery: the latency buckets (console.domain.latency), unbounded in
    practice, as a delivery may take days."""
    if ms < FLOOR_MS:
        return 0
    return min(int(math.log(ms / FLOOR_MS) / _LOG_RATIO) + 1, TTD_MAX_BUCKET)


def decode_hist_or_empty(text: str | None) -> dict[int, int]:
    """A histogram column's counts; NULL (a row written before the column existed) reads as none."""
    return decode_hist(text) if text else {}


def _empty_row() -> list[Any]:
    return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, {}, {}, {}]


class RollupAccumulator:
    """Sums for one write batch, per minute x endpoint x event type x trigger, plus failure counts."""

    def __init__(self) -> None:
        self.minutes: dict[RollupKey, list[Any]] = {}
        self.failures: dict[FailureKey, list[int]] = {}
        self.hours: dict[RollupKey, list[Any]] | None = None
        # deliveries first delivered per minute of their delivery x endpoint x event type (signed)
        self.closed: dict[closed_counts.ClosedKey, int] = {}

    def add_attempts(self, records: Iterable[AttemptRecord], as_deliveries: bool = False) -> int:
        """Count attempts (with `as_deliveries`, each also as a delivery of its own, first tried then, into an
        empty accumulator); returns how many succeeded. Fields by named position: this runs once per attempt."""
        assert not (as_deliveries and self.minutes), "deliveries are counted into an empty accumulator"
        minutes = self.minutes
        failures = self.failures
        slots = _OUTCOME_SLOT
        per_minute = MS_PER_MINUTE
        deliveries = 1 if as_deliveries else 0
        deliveries_slot, delivered_slot = _DELIVERIES, _DELIVERED
        successes = 0
        buckets = _LATENCY_BUCKETS
        if len(buckets) > _LATENCY_BUCKETS_MAX:
            buckets.clear()
        # The named positions as locals: this loop runs once per attempt, and a local is read faster.
        at_at: Final = A_ATTEMPTED_AT_MS
        endpoint_at: Final = A_ENDPOINT_ID
        type_at: Final = A_EVENT_TYPE
        trigger_at: Final = A_TRIGGER
        outcome_at: Final = A_OUTCOME
        number_at: Final = A_ATTEMPT
        status_at: Final = A_STATUS_CODE
        error_at: Final = A_ERROR
        latency_at: Final = A_LATENCY_MS
        success_slot, first_attempts, first_successes = _SUCCESSES, _FIRST_ATTEMPTS, _FIRST_SUCCESSES
        latency_count, latency_sum, hist_slot = _LATENCY_COUNT, _LATENCY_SUM, _HIST
        count_at, last_at_at = FAILURE_COUNT, FAILURE_LAST_AT
        attempts_slot = _ATTEMPTS
        retries_slot, ttd_slot = _RETRIES, _TTD
        for r in records:
            at = r[at_at]
            minute = at // per_minute
            key = (minute, r[endpoint_at], r[type_at], r[trigger_at])
            row = minutes.get(key)
            if row is None:
                row = minutes[key] = _empty_row()
            slot = slots[r[outcome_at]]
            row[attempts_slot] += 1
            row[slot] += 1
            row[deliveries_slot] += deliveries
            first = r[number_at] == 1
            if first:
                row[first_attempts] += 1
            if slot == success_slot:
                successes += 1
                if deliveries:  # delivered by this attempt, at once: time to delivery 0 (bucket 0)
                    row[delivered_slot] += 1
                    retries = row[retries_slot]
                    n = r[number_at]
                    retries[n] = retries.get(n, 0) + 1
                    ttd = row[ttd_slot]
                    ttd[0] = ttd.get(0, 0) + 1
                if first:
                    row[first_successes] += 1
            else:
                fkey = (
                    minute,
                    r[endpoint_at],
                    r[type_at],
                    r[status_at] or 0,
                    error_kind_of(r[error_at]).value,
                )
                entry = failures.get(fkey)
                if entry is None:
                    failures[fkey] = [1, at]
                else:
                    entry[count_at] += 1
                    if at > entry[last_at_at]:
                        entry[last_at_at] = at
            latency = r[latency_at]
            if latency is not None:
                row[latency_count] += 1
                row[latency_sum] += latency
                hist = row[hist_slot]
                bucket = buckets.get(latency)
                if bucket is None:
                    bucket = buckets[latency] = bucket_of(latency)
                hist[bucket] = hist.get(bucket, 0) + 1
        if deliveries:  # those delivered at once were delivered in the minute of their first attempt
            closed = self.closed
            for (minute, endpoint_id, event_type, _trigger), row in minutes.items():
                if row[delivered_slot]:
                    done = (minute, endpoint_id, event_type)
                    closed[done] = closed.get(done, 0) + row[delivered_slot]
        return successes

    def add_delivery(
        self,
        at_ms: int,
        endpoint_id: str,
        event_type: str,
        trigger: str,
        count: int,
        delivered: int,
        delivered_attempt: int | None = None,
        delivered_at_ms: int | None = None,
    ) -> None:
        """Count (or with negative numbers, uncount) deliveries first tried at `at_ms`; with `delivered`, the
        attempt that delivered them and when go into (or out of) the histograms."""
        minute = at_ms // MS_PER_MINUTE
        ttd_bucket = 0
        if delivered:
            assert delivered_attempt is not None and delivered_at_ms is not None
            ttd_bucket = ttd_bucket_of(delivered_at_ms - at_ms)
            closed_key = (delivered_at_ms // MS_PER_MINUTE, endpoint_id, event_type)
            self.closed[closed_key] = self.closed.get(closed_key, 0) + delivered
        grains = [(self.minutes, minute)]
        if self.hours is not None:
            grains.append((self.hours, minute // MINUTES_PER_HOUR))
        for grain, bucket in grains:
            key = (bucket, endpoint_id, event_type, trigger)
            row = grain.get(key)
            if row is None:
                row = grain[key] = _empty_row()
            row[_DELIVERIES] += count
            row[_DELIVERED] += delivered
            if delivered:
                retries, ttd = row[_RETRIES], row[_TTD]
                retries[delivered_attempt] = retries.get(delivered_attempt, 0) + delivered
                ttd[ttd_bucket] = ttd.get(ttd_bucket, 0) + delivered

    def finish(self) -> None:
        """Add the minute sums up per hour; later delivery corrections keep both grains in step."""
        self.hours = self._hours()

    def _hours(self) -> dict[RollupKey, list[Any]]:
        hours: dict[RollupKey, list[Any]] = {}
        for (minute, endpoint_id, event_type, trigger), row in self.minutes.items():
            key = (minute // MINUTES_PER_HOUR, endpoint_id, event_type, trigger)
            total = hours.get(key)
            if total is None:
                hours[key] = [*row[:N_COUNTERS], *(dict(h) for h in row[N_COUNTERS:])]
                continue
            for i in range(N_COUNTERS):
                total[i] += row[i]
            for i in range(N_COUNTERS, N_COUNTERS + N_HISTS):
                hist = total[i]
                for bucket, count in row[i].items():
                    hist[bucket] = hist.get(bucket, 0) + count
        return hours

    def flush(self, conn: Connection, dialect: Dialect) -> None:
        """Merge every sum into the rollup tables."""
        if self.minutes:
            _merge_grain(conn, dialect, "rollup_minute", self.minutes)
            _merge_grain(
                conn, dialect, "rollup_hour", self.hours if self.hours is not None else self._hours()
            )
        if self.failures:
            _merge_failures(conn, dialect, self.failures)
        if self.closed:
            closed_counts.merge(conn, dialect, self.closed)


def _merge_grain(conn: Connection, dialect: Dialect, table: str, grain: dict[RollupKey, list[Any]]) -> None:
    p = dialect.placeholder
    existing = stored_rows(conn, dialect, table, KEY_COLUMNS, COUNTER_COLUMNS + HIST_COLUMNS, grain)
    updates: list[tuple[Any, ...]] = []
    inserts: list[tuple[Any, ...]] = []
    for key, sums in grain.items():
        old = existing.get(key)
        if old is None:
            hists = (encode_hist({b: c for b, c in h.items() if c}) for h in sums[N_COUNTERS:])
            inserts.append((*key, *sums[:N_COUNTERS], *hists))
            continue
        counters = [a + b for a, b in zip(old[:N_COUNTERS], sums[:N_COUNTERS], strict=True)]
        texts = [
            _merged_hist(text, hist) for text, hist in zip(old[N_COUNTERS:], sums[N_COUNTERS:], strict=True)
        ]
        updates.append((*counters, *texts, *key))
    if updates:
        assignments = ", ".join(f"{c} = {p}" for c in (*COUNTER_COLUMNS, *HIST_COLUMNS))
        where = " AND ".join(f"{c} = {p}" for c in KEY_COLUMNS)
        conn.exec_driver_sql(f"UPDATE {table} SET {assignments} WHERE {where}", updates)
    dialect.bulk_insert(conn, table, (*KEY_COLUMNS, *COUNTER_COLUMNS, *HIST_COLUMNS), inserts)


def _merged_hist(stored: str | None, added: dict[int, int]) -> str:
    """A stored histogram plus signed counts, buckets that come to zero left out."""
    if not added and stored is not None:
        return stored
    merged = decode_hist_or_empty(stored)
    for b, c in added.items():
        total = merged.get(b, 0) + c
        if total:
            merged[b] = total
        else:
            merged.pop(b, None)
    return encode_hist(merged)


def _merge_failures(conn: Connection, dialect: Dialect, failures: dict[FailureKey, list[int]]) -> None:
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


_GRAIN_MS = {"rollup_minute": MS_PER_MINUTE, "rollup_hour": MS_PER_HOUR}


def fill_delivery_hists(conn: Connection, table: str) -> None:
    """Set `retries_hist` and `ttd_hist` of every row of a rollup table from the delivered deliveries (the
    upgrade to version 8): the database groups them by bucket, key and value; the values go into buckets here,
    by the same `ttd_bucket_of` the writer uses."""
    width = _GRAIN_MS[table]
    grains: dict[RollupKey, tuple[dict[int, int], dict[int, int]]] = {}
    grouped = (
        f"SELECT first_attempt_at / {width} AS b, endpoint_id, event_type, first_trigger, {{value}}, COUNT(*) "
        "FROM delivery WHERE delivered_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5"
    )
    for position, value in ((0, "delivered_attempt"), (1, "delivered_at - first_attempt_at")):
        for bucket, endpoint_id, event_type, trigger, v, count in conn.exec_driver_sql(
            grouped.format(value=value)
        ):
            hists = grains.setdefault((int(bucket), endpoint_id, event_type, trigger), ({}, {}))
            key = int(v) if position == 0 else ttd_bucket_of(int(v))
            hists[position][key] = hists[position].get(key, 0) + int(count)
    conn.exec_driver_sql(f"UPDATE {table} SET retries_hist = '{{}}', ttd_hist = '{{}}'")
    if grains:
        p = dialect_for(conn.dialect.name).placeholder
        where = " AND ".join(f"{c} = {p}" for c in KEY_COLUMNS)
        conn.exec_driver_sql(
            f"UPDATE {table} SET retries_hist = {p}, ttd_hist = {p} WHERE {where}",
            [(encode_hist(r), encode_hist(t), *key) for key, (r, t) in grains.items()],
        )
