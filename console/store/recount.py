"""Recount deliveries and rollups from the raw attempts, independently of the incremental write path.

`verify_derived_state` compares the recount with what the writers maintained; tests (and operators in doubt)
use it to prove that ingest, replay and pruning keep the derived tables exact.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from console.domain.latency import bucket_of
from console.domain.outcomes import error_kind_of
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store.engine import Store
from console.store.rollup import COUNTER_COLUMNS, decode_hist
from console.store.writer import DELIVERY_STATE_COLUMNS


def recount(store: Store) -> dict[str, dict[Any, Any]]:
    """Deliveries, rollups (minute and hour) and failure rollups as recomputed from every attempt."""
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT a.event_id, a.endpoint_id, a.attempt, a.attempted_at, a.status_code, a.latency_ms, a.outcome, "
            "a.error, a.trigger, e.event_type FROM delivery_attempt a JOIN event e ON e.event_id = a.event_id "
            "ORDER BY a.event_id, a.endpoint_id, a.attempted_at, a.attempt"
        ).fetchall()
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row[0], row[1])].append(row)
    deliveries: dict[tuple[str, str], tuple[Any, ...]] = {}
    rollups: dict[str, dict[tuple[Any, ...], list[Any]]] = {"rollup_minute": {}, "rollup_hour": {}}
    failures: dict[tuple[Any, ...], list[int]] = {}
    for (event_id, endpoint_id), attempts in groups.items():
        first, last = attempts[0], attempts[-1]
        successes = [a for a in attempts if a[6] == "success"]
        delivered = successes[0] if successes else None
        deliveries[(event_id, endpoint_id)] = (
            len(attempts),
            len(successes),
            max(a[2] for a in attempts),
            first[3],
            first[2],
            first[8],
            first[6],
            last[3],
            last[2],
            last[6],
            last[4],
            last[7],
            delivered[3] if delivered else None,
            delivered[2] if delivered else None,
        )
        for table, width in (("rollup_minute", MS_PER_MINUTE), ("rollup_hour", MS_PER_HOUR)):
            sums = _sums(rollups[table], (first[3] // width, endpoint_id, first[9], first[8]))
            sums[7] += 1
            sums[8] += 1 if delivered else 0
            for a in attempts:
                sums = _sums(rollups[table], (a[3] // width, endpoint_id, a[9], a[8]))
                sums[0] += 1
                sums[{"success": 1, "http_error": 2, "timeout": 3, "network_error": 4}[a[6]]] += 1
                if a[2] == 1:
                    sums[5] += 1
                    sums[6] += a[6] == "success"
                if a[5] is not None:
                    sums[9] += 1
                    sums[10] += a[5]
                    hist = sums[11]
                    hist[bucket_of(a[5])] = hist.get(bucket_of(a[5]), 0) + 1
        for a in attempts:
            if a[6] != "success":
                key = (a[3] // MS_PER_MINUTE, endpoint_id, a[9], a[4] or 0, error_kind_of(a[7]).value)
                entry = failures.setdefault(key, [0, 0])
                entry[0] += 1
                entry[1] = max(entry[1], a[3])
    return {"delivery": deliveries, **rollups, "failure_minute": {k: tuple(v) for k, v in failures.items()}}


def _sums(table: dict[tuple[Any, ...], list[Any]], key: tuple[Any, ...]) -> list[Any]:
    if key not in table:
        table[key] = [0] * 9 + [0, 0.0, {}]
    return table[key]


def stored_state(store: Store) -> dict[str, dict[Any, Any]]:
    """The derived tables as the writers left them, in the recount's shape (empty rollup rows dropped)."""
    out: dict[str, dict[Any, Any]] = {}
    with store.read() as conn:
        out["delivery"] = {
            (r[0], r[1]): tuple(r[2:])
            for r in conn.exec_driver_sql(
                f"SELECT event_id, endpoint_id, {', '.join(DELIVERY_STATE_COLUMNS)} FROM delivery"
            )
        }
        for table in ("rollup_minute", "rollup_hour"):
            out[table] = {}
            sql = f"SELECT bucket, endpoint_id, event_type, trigger, {', '.join(COUNTER_COLUMNS)}, latency_hist FROM {table}"
            for r in conn.exec_driver_sql(sql):
                values = [*r[4:15], decode_hist(r[15])]
                if any(values[:9]):
                    out[table][tuple(r[:4])] = values
        out["failure_minute"] = {
            tuple(r[:5]): (r[5], r[6])
            for r in conn.exec_driver_sql(
                "SELECT bucket, endpoint_id, event_type, status_code, error_kind, count, last_at FROM failure_minute"
            )
            if r[5]
        }
    return out


def verify_derived_state(store: Store) -> list[str]:
    """Differences between the derived tables and a recount from attempts; empty when they agree."""
    expected, actual = recount(store), stored_state(store)
    problems: list[str] = []
    for table, rows in expected.items():
        got = actual[table]
        for key in sorted(set(rows) | set(got), key=repr):
            want, have = rows.get(key), got.get(key)
            if want is None or have is None or not _same(list(want), list(have)):
                problems.append(f"{table} {key}: recount {want!r}, stored {have!r}")
    return problems


def _same(want: list[Any], have: list[Any]) -> bool:
    if len(want) != len(have):
        return False
    for a, b in zip(want, have, strict=True):
        if isinstance(a, float) or isinstance(b, float):
            if abs(float(a) - float(b)) > 1e-6 * max(1.0, abs(float(a))):
                return False
        elif a != b:
            return False
    return True
