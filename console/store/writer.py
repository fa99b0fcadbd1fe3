"""The one write path for attempts: ingest, replay and the simulator all store attempts through `write_batch`.

Inside one write transaction it inserts the new attempts (skipping those already stored, by natural key),
inserts events met for the first time, brings each touched delivery up to date and merges the rollups, so the
store is consistent after every batch and a killed process loses at most the batch in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from console.domain.outcomes import Outcome
from console.domain.records import AttemptRecord, EventRecord
from console.store.dialect import Dialect
from console.store.engine import Store
from console.store.rollup import RollupAccumulator

ATTEMPT_COLUMNS = (
    "event_id",
    "endpoint_id",
    "attempt",
    "attempted_at",
    "status_code",
    "latency_ms",
    "outcome",
    "error",
    "trigger",
    "replay_job_id",
    "request_headers",
    "response_excerpt",
)
EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "occurred_at",
    "payload",
    "user_id",
    "reward_id",
    "amount",
    "currency",
)
DELIVERY_STATE_COLUMNS = (
    "attempts",
    "successes",
    "max_attempt",
    "first_attempt_at",
    "first_attempt",
    "first_trigger",
    "first_outcome",
    "last_attempt_at",
    "last_attempt",
    "last_outcome",
    "last_status_code",
    "last_error",
    "delivered_at",
    "delivered_attempt",
)
_SUCCESS = Outcome.SUCCESS.value

AttemptKey = tuple[str, str, int]


@dataclass
class WriteResult:
    """What one batch did. `rejected` maps an attempt's key to why it was not stored."""

    inserted: int = 0
    duplicates: int = 0
    events_inserted: int = 0
    newly_delivered: int = 0
    rejected: dict[AttemptKey, str] = field(default_factory=dict)
    inserted_keys: set[AttemptKey] = field(default_factory=set)

    def add(self, other: WriteResult) -> None:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.events_inserted += other.events_inserted
        self.newly_delivered += other.newly_delivered
        self.rejected.update(other.rejected)


def write_batch(
    store: Store,
    attempts: Sequence[AttemptRecord],
    events: Iterable[EventRecord] = (),
    *,
    keep_keys: bool = False,
) -> WriteResult:
    """Store a batch of attempts (and the events they need) in one transaction; idempotent by natural key."""
    with store.write() as conn:
        return write_in_transaction(conn, store.dialect, attempts, events, keep_keys=keep_keys)


def _in_chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _select_in(
    conn: Connection, dialect: Dialect, sql_head: str, column: str, values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for chunk in _in_chunks(values, dialect.max_params):
        marks = ", ".join(dialect.placeholder for _ in chunk)
        rows.extend(
            tuple(r) for r in conn.exec_driver_sql(f"{sql_head} WHERE {column} IN ({marks})", tuple(chunk))
        )
    return rows


def write_in_transaction(
    conn: Connection,
    dialect: Dialect,
    attempts: Sequence[AttemptRecord],
    events: Iterable[EventRecord] = (),
    *,
    keep_keys: bool = False,
) -> WriteResult:
    """The body of `write_batch`, for callers that already hold a write transaction."""
    result = WriteResult()
    unique: dict[AttemptKey, AttemptRecord] = {}
    for record in attempts:
        key = (record.event_id, record.endpoint_id, record.attempt)
        if key in unique:
            result.duplicates += 1
        else:
            unique[key] = record
    if not unique:
        return result
    event_ids = sorted({key[0] for key in unique})

    # Events: which exist, with which type; insert the ones offered for the first time.
    known_types: dict[str, str] = {
        row[0]: row[1]
        for row in _select_in(conn, dialect, "SELECT event_id, event_type FROM event", "event_id", event_ids)
    }
    new_events: dict[str, EventRecord] = {}
    for event in events:
        if event.event_id not in known_types and event.event_id not in new_events:
            new_events[event.event_id] = event
    for event_id, event in new_events.items():
        known_types[event_id] = event.event_type
    dialect.bulk_insert(
        conn,
        "event",
        EVENT_COLUMNS,
        [
            (
                e.event_id,
                e.event_type,
                e.occurred_at_ms,
                e.payload,
                e.user_id,
                e.reward_id,
                e.amount,
                e.currency,
            )
            for e in new_events.values()
        ],
    )
    result.events_inserted = len(new_events)

    # Attempts: drop those stored already, and those whose event is unknown or of another type.
    stored = {
        (row[0], row[1], row[2])
        for row in _select_in(
            conn,
            dialect,
            "SELECT event_id, endpoint_id, attempt FROM delivery_attempt",
            "event_id",
            event_ids,
        )
    }
    fresh: list[AttemptRecord] = []
    for key, record in unique.items():
        if key in stored:
            result.duplicates += 1
            continue
        stored_type = known_types.get(record.event_id)
        if stored_type is None:
            result.rejected[key] = (
                f"payload: required on the first line of an event ({record.event_id} has no stored payload yet)"
            )
        elif stored_type != record.event_type:
            result.rejected[key] = (
                f"event_type: {record.event_type!r} does not match {stored_type!r}, "
                f"the type already stored for {record.event_id}"
            )
        else:
            fresh.append(record)
    if not fresh:
        return result
    dialect.bulk_insert(
        conn,
        "delivery_attempt",
        ATTEMPT_COLUMNS,
        [
            (
                r.event_id,
                r.endpoint_id,
                r.attempt,
                r.attempted_at_ms,
                r.status_code,
                r.latency_ms,
                r.outcome.value,
                r.error,
                r.trigger.value,
                r.replay_job_id,
                r.request_headers,
                r.response_excerpt,
            )
            for r in fresh
        ],
    )
    result.inserted = len(fresh)
    if keep_keys:
        result.inserted_keys = {(r.event_id, r.endpoint_id, r.attempt) for r in fresh}

    rollups = RollupAccumulator()
    for r in fresh:
        rollups.add_attempt(
            r.attempted_at_ms,
            r.endpoint_id,
            r.event_type,
            r.trigger.value,
            r.attempt,
            r.outcome.value,
            r.status_code,
            r.latency_ms,
            r.error,
        )
    result.newly_delivered = _update_deliveries(conn, dialect, fresh, rollups)
    _register_endpoints(conn, dialect, {r.endpoint_id for r in fresh})
    rollups.flush(conn, dialect)
    return result


# Positions in a delivery state list (the order of DELIVERY_STATE_COLUMNS).
(
    ATTEMPTS,
    SUCCESSES,
    MAX_ATTEMPT,
    FIRST_AT,
    FIRST_N,
    FIRST_TRIGGER,
    FIRST_OUTCOME,
    LAST_AT,
    LAST_N,
    LAST_OUTCOME,
    LAST_STATUS,
    LAST_ERROR,
    DELIVERED_AT,
    DELIVERED_N,
) = range(14)


def new_delivery_state() -> list[Any]:
    """The state of a delivery before any attempt."""
    return [0, 0, 0, None, None, None, None, None, None, None, None, None, None, None]


def apply_attempt(state: list[Any], r: AttemptRecord) -> None:
    """Fold one attempt into a delivery state: first and last by (time, attempt number), delivered by the
    earliest success."""
    at = r.attempted_at_ms
    state[ATTEMPTS] += 1
    if r.attempt > state[MAX_ATTEMPT]:
        state[MAX_ATTEMPT] = r.attempt
    if state[FIRST_AT] is None or (at, r.attempt) < (state[FIRST_AT], state[FIRST_N]):
        state[FIRST_AT], state[FIRST_N] = at, r.attempt
        state[FIRST_TRIGGER], state[FIRST_OUTCOME] = r.trigger.value, r.outcome.value
    if state[LAST_AT] is None or (at, r.attempt) > (state[LAST_AT], state[LAST_N]):
        state[LAST_AT], state[LAST_N] = at, r.attempt
        state[LAST_OUTCOME], state[LAST_STATUS], state[LAST_ERROR] = r.outcome.value, r.status_code, r.error
    if r.outcome.value == _SUCCESS:
        state[SUCCESSES] += 1
        if state[DELIVERED_AT] is None or (at, r.attempt) < (state[DELIVERED_AT], state[DELIVERED_N]):
            state[DELIVERED_AT], state[DELIVERED_N] = at, r.attempt


def _update_deliveries(
    conn: Connection, dialect: Dialect, fresh: Sequence[AttemptRecord], rollups: RollupAccumulator
) -> int:
    """Bring every touched delivery up to date and record its move between rollup buckets."""
    by_pair: dict[tuple[str, str], list[AttemptRecord]] = {}
    for r in fresh:
        by_pair.setdefault((r.event_id, r.endpoint_id), []).append(r)
    event_ids = sorted({pair[0] for pair in by_pair})
    existing: dict[tuple[str, str], list[Any]] = {}
    head = f"SELECT event_id, endpoint_id, {', '.join(DELIVERY_STATE_COLUMNS)} FROM delivery"
    for row in _select_in(conn, dialect, head, "event_id", event_ids):
        pair = (row[0], row[1])
        if pair in by_pair:
            existing[pair] = list(row[2:])
    updates: list[tuple[Any, ...]] = []
    inserts: list[tuple[Any, ...]] = []
    newly_delivered = 0
    for pair, records in by_pair.items():
        event_type = records[0].event_type
        state = existing.get(pair)
        if state is None:
            state = new_delivery_state()
            was_delivered = False
        else:
            was_delivered = state[DELIVERED_AT] is not None
            # Take the delivery out of the bucket it was counted in; it is counted again below.
            rollups.add_delivery(
                state[FIRST_AT], pair[1], event_type, state[FIRST_TRIGGER], -1, -int(was_delivered)
            )
        for r in records:
            apply_attempt(state, r)
        delivered = state[DELIVERED_AT] is not None
        rollups.add_delivery(state[FIRST_AT], pair[1], event_type, state[FIRST_TRIGGER], 1, int(delivered))
        newly_delivered += int(delivered and not was_delivered)
        if pair in existing:
            updates.append((*state, pair[0], pair[1]))
        else:
            inserts.append((pair[0], pair[1], event_type, *state))
    dialect.bulk_insert(
        conn, "delivery", ("event_id", "endpoint_id", "event_type", *DELIVERY_STATE_COLUMNS), inserts
    )
    if updates:
        p = dialect.placeholder
        assignments = ", ".join(f"{c} = {p}" for c in DELIVERY_STATE_COLUMNS)
        conn.exec_driver_sql(
            f"UPDATE delivery SET {assignments} WHERE event_id = {p} AND endpoint_id = {p}",
            updates,
        )
    return newly_delivered


def _register_endpoints(conn: Connection, dialect: Dialect, endpoint_ids: set[str]) -> None:
    p = dialect.placeholder
    conn.exec_driver_sql(
        f"INSERT INTO endpoint (id, enabled) VALUES ({p}, {p}) ON CONFLICT (id) DO NOTHING",
        [(e, True) for e in sorted(endpoint_ids)],
    )
