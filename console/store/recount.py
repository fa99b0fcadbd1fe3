"""Recount deliveries, rollups (the closed counts with them), the gap counts and the ordering anomalies from the
raw attempts, independently of the incremental write path.

`verify_derived_state` compares the recount with what the writers maintained; tests (and operators in doubt)
use it to prove that ingest, replay and pruning keep the derived tables exact.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from console.domain.latency import bucket_of
from console.domain.outcomes import error_kind_of
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE
from console.store import gap_counts, ordering
from console.store.engine import Store
from console.store.rollup import COUNTER_COLUMNS, HIST_COLUMNS, decode_hist_or_empty, ttd_bucket_of
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
        groups[(row.event_id, row.endpoint_id)].append(row)
    deliveries: dict[tuple[str, str], tuple[Any, ...]] = {}
    rollups: dict[str, dict[tuple[Any, ...], list[Any]]] = {"rollup_minute": {}, "rollup_hour": {}}
    failures: dict[tuple[Any, ...], list[int]] = {}
    closed: dict[str, dict[tuple[Any, ...], list[int]]] = {"closed_minute": {}, "closed_hour": {}}
    for (event_id, endpoint_id), attempts in groups.items():
        first, last = attempts[0], attempts[-1]
        successes = [a for a in attempts if a.outcome == "success"]
        delivered = successes[0] if successes else None
        deliveries[(event_id, endpoint_id)] = (  # in the order of DELIVERY_STATE_COLUMNS
            len(attempts),
            len(successes),
            max(a.attempt for a in attempts),
            first.attempted_at,
            first.attempt,
            first.trigger,
            first.outcome,
            last.attempted_at,
            last.attempt,
            last.outcome,
            last.status_code,
            last.error,
            delivered.attempted_at if delivered else None,
            delivered.attempt if delivered else None,
            sum(1 for a in attempts if a.trigger == "scheduled"),
            max((a.attempt for a in attempts if a.trigger == "scheduled"), default=0),
        )
        if delivered:  # leaves the backlog in the bucket it was first delivered in
            for table, width in (("closed_minute", MS_PER_MINUTE), ("closed_hour", MS_PER_HOUR)):
                closed_key = (delivered.attempted_at // width, endpoint_id, first.event_type)
                closed[table].setdefault(closed_key, [0, 0])[0] += 1
        for table, width in (("rollup_minute", MS_PER_MINUTE), ("rollup_hour", MS_PER_HOUR)):
            sums = _sums(
                rollups[table], (first.attempted_at // width, endpoint_id, first.event_type, first.trigger)
            )
            sums[_C["deliveries"]] += 1
            if delivered:
                sums[_C["delivered"]] += 1
                retries, ttd = sums[_RETRIES], sums[_TTD]
                retries[delivered.attempt] = retries.get(delivered.attempt, 0) + 1
                ttd_bucket = ttd_bucket_of(delivered.attempted_at - first.attempted_at)
                ttd[ttd_bucket] = ttd.get(ttd_bucket, 0) + 1
            for a in attempts:
                sums = _sums(rollups[table], (a.attempted_at // width, endpoint_id, a.event_type, a.trigger))
                sums[_C["attempts"]] += 1
                sums[_C[_OUTCOME_COUNTER[a.outcome]]] += 1
                if a.attempt == 1:
                    sums[_C["first_attempts"]] += 1
                    sums[_C["first_successes"]] += a.outcome == "success"
                if a.latency_ms is not None:
                    sums[_C["latency_count"]] += 1
                    sums[_C["latency_sum"]] += a.latency_ms
                    hist = sums[_HIST]
                    hist[bucket_of(a.latency_ms)] = hist.get(bucket_of(a.latency_ms), 0) + 1
        for a in attempts:
            if a.outcome != "success":
                key = (
                    a.attempted_at // MS_PER_MINUTE,
                    endpoint_id,
                    a.event_type,
                    a.status_code or 0,
                    error_kind_of(a.error).value,
                )
                count, last_at = failures.get(key, (0, 0))
                failures[key] = [count + 1, max(last_at, a.attempted_at)]
    return {
        "delivery": deliveries,
        **rollups,
        "failure_minute": {k: tuple(v) for k, v in failures.items()},
        **{table: {k: tuple(v) for k, v in rows.items()} for table, rows in closed.items()},
        "gap_counts": {key: (n,) for key, n in _gap_counts(store, groups).items()},
        "ordering_anomaly": _ordering(store, deliveries),
    }


def _ordering(store: Store, deliveries: dict[tuple[str, str], tuple[Any, ...]]) -> dict[Any, tuple[Any, ...]]:
    """The ordering anomalies (console.store.ordering) from the recounted deliveries: per endpoint and user,
    in occurrence order, the latest delivered of the strictly earlier events (earliest to occur among equals)
    against each delivery."""
    with store.read() as conn:
        people = {
            e: (u, int(o))
            for e, u, o in conn.exec_driver_sql(
                "SELECT event_id, user_id, occurred_at FROM event WHERE user_id IS NOT NULL"
            )
        }
    delivered_at = DELIVERY_STATE_COLUMNS.index("delivered_at")
    groups: dict[tuple[str, str], list[tuple[int, str, int]]] = defaultdict(list)
    for (event_id, endpoint_id), state in deliveries.items():
        if state[delivered_at] is not None and event_id in people:
            user_id, occurred_at = people[event_id]
            groups[(endpoint_id, user_id)].append((occurred_at, event_id, state[delivered_at]))
    found: dict[Any, tuple[Any, ...]] = {}
    for (endpoint_id, user_id), events in groups.items():
        events.sort()
        latest: tuple[int, int, str] | None = None  # (-delivered, occurred, event) of the events before
        start = 0
        while start < len(events):
            end = start
            while end < len(events) and events[end][0] == events[start][0]:
                end += 1
            for occurred_at, event_id, at in events[start:end]:
                if latest is not None and at < -latest[0]:
                    found[(event_id, endpoint_id)] = (
                        user_id,
                        occurred_at,
                        at,
                        latest[2],
                        latest[1],
                        -latest[0],
                    )
            for occurred_at, event_id, at in events[start:end]:
                latest = min(latest or (-at, occurred_at, event_id), (-at, occurred_at, event_id))
            start = end
    return found


def _gap_counts(store: Store, groups: dict[tuple[str, str], list[Any]]) -> dict[Any, int]:
    """The missing-delivery counts (console.store.gap_counts) from the attempts: each event with a payload in
    the hour of its first attempt anywhere, under its type and tenant, and at each endpoint of that tenant."""
    with store.read() as conn:
        sources = {i: s or "" for i, s in conn.exec_driver_sql("SELECT id, source FROM endpoint")}
        with_payload = {
            e for (e,) in conn.exec_driver_sql("SELECT event_id FROM event WHERE payload IS NOT NULL")
        }
    events: dict[str, list[Any]] = {}  # event id: [first attempt, type, endpoints]
    for (event_id, endpoint_id), attempts in groups.items():
        first = min(a.attempted_at for a in attempts)
        seen = events.setdefault(event_id, [first, attempts[0].event_type, set()])
        seen[0] = min(seen[0], first)
        seen[2].add(endpoint_id)
    counts: dict[Any, int] = defaultdict(int)
    for event_id, (first, event_type, endpoints) in events.items():
        if event_id not in with_payload:
            continue
        src = min(sources[e] for e in endpoints)
        hour = first // MS_PER_HOUR
        counts[(hour, event_type, src, "")] += 1
        for endpoint_id in endpoints:
            if sources[endpoint_id] == src:
                counts[(hour, event_type, src, endpoint_id)] += 1
    return dict(counts)


# A rollup row's counters by name (COUNTER_COLUMNS), then its histograms (HIST_COLUMNS).
_C = {name: i for i, name in enumerate(COUNTER_COLUMNS)}
_HIST, _RETRIES, _TTD = range(len(COUNTER_COLUMNS), len(COUNTER_COLUMNS) + len(HIST_COLUMNS))
_OUTCOME_COUNTER = {
    "success": "successes",
    "http_error": "http_errors",
    "timeout": "timeouts",
    "network_error": "network_errors",
}


def _sums(table: dict[tuple[Any, ...], list[Any]], key: tuple[Any, ...]) -> list[Any]:
    if key not in table:
        table[key] = [*(0.0 if name == "latency_sum" else 0 for name in COUNTER_COLUMNS), {}, {}, {}]
    return table[key]


def stored_state(store: Store) -> dict[str, dict[Any, Any]]:
    """The derived tables as the writers left them, in the recount's shape (empty rollup rows dropped)."""
    out: dict[str, dict[Any, Any]] = {}
    with store.read() as conn:
        out["delivery"] = {
            (event_id, endpoint_id): tuple(state)
            for event_id, endpoint_id, *state in conn.exec_driver_sql(
                f"SELECT event_id, endpoint_id, {', '.join(DELIVERY_STATE_COLUMNS)} FROM delivery"
            )
        }
        for table in ("rollup_minute", "rollup_hour"):
            out[table] = {}
            columns = ", ".join((*COUNTER_COLUMNS, *HIST_COLUMNS))
            sql = f"SELECT bucket, endpoint_id, event_type, trigger, {columns} FROM {table}"
            n = len(COUNTER_COLUMNS)
            for bucket, endpoint_id, event_type, trigger, *values in conn.exec_driver_sql(sql):
                counters = values[:n]
                if any(counters[: _C["delivered"] + 1]):  # counts (latency sums aside) that are not all zero
                    hists = [decode_hist_or_empty(h) for h in values[n:]]
                    out[table][(bucket, endpoint_id, event_type, trigger)] = [*counters, *hists]
        out["failure_minute"] = {
            (bucket, endpoint_id, event_type, status_code, kind): (count, last_at)
            for bucket, endpoint_id, event_type, status_code, kind, count, last_at in conn.exec_driver_sql(
                "SELECT bucket, endpoint_id, event_type, status_code, error_kind, count, last_at FROM failure_minute"
            )
            if count
        }
        for table in ("closed_minute", "closed_hour"):
            out[table] = {
                (bucket, endpoint_id, event_type): (closed, pruned)
                for bucket, endpoint_id, event_type, closed, pruned in conn.exec_driver_sql(
                    f"SELECT bucket, endpoint_id, event_type, closed, pruned FROM {table}"
                )
                if closed or pruned
            }
        out["gap_counts"] = {key: (n,) for key, n in gap_counts.stored(conn).items()}
        out["ordering_anomaly"] = {pair: row[2:] for pair, row in ordering.stored(conn).items()}
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
    least, floor = _leads(store, expected["delivery"])
    if least is not None and (floor is None or floor > least):  # a bound: it may be lower (prune)
        problems.append(f"meta {ordering.FLOOR_KEY}: stored {floor!r}, above the least lead {least}")
    return problems


def _leads(store: Store, deliveries: dict[Any, tuple[Any, ...]]) -> tuple[int | None, int | None]:
    """The least lead (delivery minus occurrence) of the delivered deliveries of events with a user, and the
    stored floor of the ordering anomalies (console.store.ordering)."""
    delivered_at = DELIVERY_STATE_COLUMNS.index("delivered_at")
    with store.read() as conn:
        occurred = {
            e: int(o)
            for e, o in conn.exec_driver_sql(
                "SELECT event_id, occurred_at FROM event WHERE user_id IS NOT NULL"
            )
        }
        floor = conn.exec_driver_sql(f"SELECT value FROM meta WHERE key = '{ordering.FLOOR_KEY}'").scalar()
    leads = [
        state[delivered_at] - occurred[event_id]
        for (event_id, _endpoint_id), state in deliveries.items()
        if state[delivered_at] is not None and event_id in occurred
    ]
    return min(leads, default=None), None if floor is None else int(floor)


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
