"""The one write path for attempts: ingest, replay and the simulator all store attempts through `write_batch`.

Inside one write transaction it inserts the new attempts (skipping those already stored, by natural key),
inserts events met for the first time, brings each touched delivery up to date and merges the rollups, so the
store is consistent after every batch and a killed process loses at most the batch in flight.

Bulk ingest is the hot path, so the common case (everything in the batch is new) costs one bulk insert per
table: rows go in under a savepoint, and only when one of them turns out to be stored already does the batch
fall back to looking up what exists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.engine import Connection

from console.domain.outcomes import Outcome, Trigger
from console.domain.records import (
    A_ATTEMPT,
    A_ATTEMPTED_AT_MS,
    A_ENDPOINT_ID,
    A_ERROR,
    A_EVENT_ID,
    A_EVENT_TYPE,
    A_OUTCOME,
    A_REPLAY_JOB_ID,
    A_REQUEST_HEADERS,
    A_RESPONSE_EXCERPT,
    A_STATUS_CODE,
    A_TRIGGER,
    ATTEMPT_COLUMNS,
    ATTEMPT_FREE_TEXT,
    E_AMOUNT,
    E_CURRENCY,
    E_EVENT_ID,
    E_EVENT_TYPE,
    E_REWARD_ID,
    E_USER_ID,
    EVENT_COLUMNS,
    EVENT_FREE_TEXT,
    AttemptRecord,
    EventRecord,
)
from console.store import gap_counts, ordering
from console.store.dialect import Dialect
from console.store.engine import Store
from console.store.rollup import RollupAccumulator
from console.store.staged import where_first_in

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
    "scheduled_attempts",
    "scheduled_max",
)
_SUCCESS = Outcome.SUCCESS.value

AttemptKey = tuple[str, str, int, str]


@dataclass
class WriteResult:
    """What one batch did. `rejected` maps an attempt's key to why it was not stored."""

    inserted: int = 0
    duplicates: int = 0
    events_inserted: int = 0
    newly_delivered: int = 0
    rejected: dict[AttemptKey, str] = field(default_factory=dict)

    def add(self, other: WriteResult) -> None:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.events_inserted += other.events_inserted
        self.newly_delivered += other.newly_delivered
        self.rejected.update(other.rejected)


@dataclass
class PreparedBatch:
    """A batch made ready for the store without touching it: unique attempts, the events offered, rollup
    sums of the attempts, and the delivery states this batch's attempts alone give (as if new).

    Most deliveries have one attempt in a batch, and such a delivery's row is a copy of fields of that
    attempt; only deliveries with several attempts in the batch carry a folded row (`deliveries`, with
    `multi_positions` the positions of their attempts). `delivery_rows` gives every row.

    `prepare_batch` is pure, so bulk ingest runs it in a parsing process while the main process writes.
    """

    attempts: Sequence[AttemptRecord]  # a list, or (bulk ingest into SQLite) StagedRows
    events: dict[str, EventRecord]
    duplicates: int
    rollups: RollupAccumulator
    # The row of each delivery with several attempts in the batch, as it is inserted: event_id, endpoint_id,
    # event_type, then the state columns.
    deliveries: dict[tuple[str, str], tuple[Any, ...]]
    # The event type of each event the attempts name, or None when two attempts of one event disagree
    # (then each attempt is checked on its own), and the endpoints they name.
    attempt_event_types: dict[str, str] | None = None
    endpoints: frozenset[str] = frozenset()
    multi_positions: list[int] = field(default_factory=list)
    delivered: int = 0  # deliveries this batch's attempts alone deliver
    # The ordering anomalies' input (console.store.ordering.BatchDeliveries): when each delivery is delivered
    # by this batch's attempts alone, and what that says of the batch's events
    ordering: ordering.BatchDeliveries = field(default_factory=ordering.BatchDeliveries)

    def delivery_rows(self) -> dict[tuple[str, str], tuple[Any, ...]]:
        """Every delivery's row, in the order of the deliveries' first attempts."""
        multi = self.deliveries
        rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        for r in self.attempts:
            pair = (r[A_EVENT_ID], r[A_ENDPOINT_ID])
            row = multi.get(pair)
            if row is None:
                rows[pair] = single_row(r)
            elif pair not in rows:
                rows[pair] = row
        return rows


NUL = "\x00"
NUL_REPLACEMENT = "\ufffd"


def _without_nul(record: Any, positions: Sequence[int]) -> Any:
    """The record with every NUL in its text fields at `positions` replaced by U+FFFD."""
    values = list(record)
    for i in positions:
        if values[i]:
            values[i] = values[i].replace(NUL, NUL_REPLACEMENT)
    return tuple(values) if type(record) is tuple else type(record)(*values)


def prepare_batch(
    attempts: Sequence[AttemptRecord], events: Iterable[EventRecord] = (), may_hold_nul: bool = True
) -> PreparedBatch:
    """Dedupe a batch and compute its rollup sums and delivery states (pure). Records may be plain tuples of
    their fields.

    Text fields never hold NUL in the store: PostgreSQL refuses it in text, so on every store a NUL in a free
    text field (error, response excerpt, headers, replay job id; an event's user, reward, amount, currency)
    is stored as U+FFFD. Ids and types hold no control characters (ingest refuses them); payloads are bytes.
    A caller that knows no field holds a NUL (`may_hold_nul=False`) spares the per-field checks.
    """
    records: list[AttemptRecord] = []
    first_of: dict[tuple[str, str], int] = {}  # each delivery's first attempt in the batch, by position
    held: dict[tuple[str, str], list[int]] = {}  # the positions of a delivery's attempts, when several
    multi: dict[tuple[str, str], list[Any]] = {}  # their folded state
    event_types: dict[str, str] = {}
    mixed = False
    # The named positions as locals: this loop runs once per attempt, and a local is read faster than a global.
    event_at: Final = A_EVENT_ID
    type_at: Final = A_EVENT_TYPE
    endpoint_at: Final = A_ENDPOINT_ID
    number_at: Final = A_ATTEMPT
    trigger_at: Final = A_TRIGGER
    error_at: Final = A_ERROR
    job_at: Final = A_REPLAY_JOB_ID
    headers_at: Final = A_REQUEST_HEADERS
    excerpt_at: Final = A_RESPONSE_EXCERPT
    outcome_at: Final = A_OUTCOME
    at_at: Final = A_ATTEMPTED_AT_MS
    delivering: dict[tuple[str, str], int] = {}
    for record in attempts:
        if may_hold_nul and (
            NUL in (record[error_at] or "")
            or NUL in (record[excerpt_at] or "")
            or NUL in (record[headers_at] or "")
            or NUL in (record[job_at] or "")
        ):
            record = _without_nul(record, ATTEMPT_FREE_TEXT)
        pair = (record[event_at], record[endpoint_at])
        first = first_of.get(pair)
        if first is None:
            first_of[pair] = len(records)
        else:  # a delivery's second attempt or more (or one met twice: the first copy stays)
            positions = held.get(pair)
            if positions is None:
                one = records[first]
                if one[number_at] == record[number_at] and one[trigger_at] == record[trigger_at]:
                    continue
                positions = held[pair] = [first]
                multi[pair] = state_of_one(one)
            elif any(
                records[i][number_at] == record[number_at] and records[i][trigger_at] == record[trigger_at]
                for i in positions
            ):
                continue
            apply_attempt(multi[pair], record)
            positions.append(len(records))
        if event_types.setdefault(record[event_at], record[type_at]) != record[type_at]:
            mixed = True
        if record[outcome_at] == _SUCCESS:  # the delivery's earliest success in the batch
            known = delivering.get(pair)
            if known is None or record[at_at] < known:
                delivering[pair] = record[at_at]
        records.append(record)
    offered: dict[str, EventRecord] = {}
    for event in events:
        if may_hold_nul and (
            (event[E_USER_ID] and NUL in event[E_USER_ID])
            or (event[E_REWARD_ID] and NUL in event[E_REWARD_ID])
            or (event[E_CURRENCY] and NUL in event[E_CURRENCY])
            or (event[E_AMOUNT] and NUL in event[E_AMOUNT])
        ):
            event = _without_nul(event, EVENT_FREE_TEXT)
        offered.setdefault(event[E_EVENT_ID], event)
    # Every attempt counts as a delivery of its own; then each delivery with several attempts is counted
    # once, at its first attempt, instead.
    rollups = RollupAccumulator()
    delivered = rollups.add_attempts(records, as_deliveries=True)
    rows = {}
    for pair, positions in held.items():
        for i in positions:
            r = records[i]
            success = r[A_OUTCOME] == _SUCCESS
            at = r[A_ATTEMPTED_AT_MS]
            rollups.add_delivery(
                at, r[A_ENDPOINT_ID], r[A_EVENT_TYPE], r[A_TRIGGER], -1, -success, r[A_ATTEMPT], at
            )
            delivered -= success
        state = multi[pair]
        event_type = records[min(positions)][A_EVENT_TYPE]
        event_id, endpoint_id = pair
        rows[pair] = (event_id, endpoint_id, event_type, *state)
        count_delivery(rollups, state, endpoint_id, event_type, 1)
        delivered += state[DELIVERED_AT] is not None
    rollups.finish()
    endpoints = frozenset(endpoint_id for _, endpoint_id in first_of)
    return PreparedBatch(
        records,
        offered,
        len(attempts) - len(records),
        rollups,
        rows,
        None if mixed else event_types,
        endpoints,
        sorted(i for positions in held.values() for i in positions),
        delivered,
        ordering.batch_deliveries(delivering, offered),
    )


def write_batch(
    store: Store, attempts: Sequence[AttemptRecord], events: Iterable[EventRecord] = ()
) -> WriteResult:
    """Store a batch of attempts (and the events they need) in one transaction; idempotent by natural key."""
    batch = prepare_batch(attempts, events)
    with store.write() as conn:
        return write_prepared(conn, store.dialect, batch)


def write_prepared_batch(store: Store, batch: PreparedBatch) -> WriteResult:
    """Store a prepared batch in one transaction."""
    with store.write() as conn:
        return write_prepared(conn, store.dialect, batch)


def _select_in(
    conn: Connection, dialect: Dialect, sql_head: str, column: str, values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(values), dialect.max_params):
        chunk = values[start : start + dialect.max_params]
        marks = ", ".join(dialect.placeholder for _ in chunk)
        rows.extend(
            tuple(r) for r in conn.exec_driver_sql(f"{sql_head} WHERE {column} IN ({marks})", tuple(chunk))
        )
    return rows


def _insert_new(
    conn: Connection, dialect: Dialect, table: str, columns: Sequence[str], rows: Sequence[Any]
) -> bool:
    """Insert rows under a savepoint; False (and nothing inserted) when one of them is stored already."""
    conn.exec_driver_sql("SAVEPOINT hc_bulk")
    try:
        dialect.bulk_insert(conn, table, columns, rows)
    except Exception as exc:
        if not dialect.is_unique_violation(exc):
            raise
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT hc_bulk")
        conn.exec_driver_sql("RELEASE SAVEPOINT hc_bulk")
        return False
    conn.exec_driver_sql("RELEASE SAVEPOINT hc_bulk")
    return True


def write_in_transaction(
    conn: Connection, dialect: Dialect, attempts: Sequence[AttemptRecord], events: Iterable[EventRecord] = ()
) -> WriteResult:
    """`write_batch` for callers that already hold a write transaction."""
    return write_prepared(conn, dialect, prepare_batch(attempts, events))


def write_prepared(conn: Connection, dialect: Dialect, batch: PreparedBatch) -> WriteResult:
    """Insert what is new in a prepared batch and bring deliveries and rollups up to date."""
    result = WriteResult(duplicates=batch.duplicates)
    if not batch.attempts:
        return result

    # Events: offered ones go in (those stored already are known by their type); the others are looked up.
    offered = dict(batch.events)
    types: dict[str, str] = {}
    preexisting: set[str] = set()
    people: dict[str, tuple[str | None, int]] = {}  # stored events' (user, occurrence): ordering anomalies
    if offered and not _insert_new(conn, dialect, "event", EVENT_COLUMNS, list(offered.values())):
        stored = _select_in(conn, dialect, _STORED_EVENTS_SQL, "event_id", list(offered))
        for event_id, event_type, user_id, occurred_at in stored:
            types[event_id] = event_type
            people[event_id] = (user_id, occurred_at)
            preexisting.add(event_id)
            del offered[event_id]
        dialect.bulk_insert(conn, "event", EVENT_COLUMNS, list(offered.values()))
    result.events_inserted = len(offered)
    for event_id, event in offered.items():
        types[event_id] = event[E_EVENT_TYPE]  # event_type (a plain tuple when sent by the parsing process)
    named = batch.attempt_event_types
    unknown = sorted(
        (named.keys() if named is not None else {r[A_EVENT_ID] for r in batch.attempts}) - types.keys()
    )
    for event_id, event_type, user_id, occurred_at in _select_in(
        conn, dialect, _STORED_EVENTS_SQL, "event_id", unknown
    ):
        types[event_id] = event_type
        people[event_id] = (user_id, occurred_at)
        preexisting.add(event_id)

    # Attempts: refuse those whose event is unknown or of another type; skip those stored already. The
    # common case is checked once per event: every attempt's event is stored with the attempt's type.
    candidates: Sequence[AttemptRecord] = batch.attempts
    if named is None or any(types.get(e) != t for e, t in named.items()):
        candidates = []
        for record in batch.attempts:
            stored_type = types.get(record[A_EVENT_ID])
            if stored_type == record[A_EVENT_TYPE]:
                candidates.append(record)
                continue
            key = (record[A_EVENT_ID], record[A_ENDPOINT_ID], record[A_ATTEMPT], record[A_TRIGGER])
            if stored_type is None:
                result.rejected[key] = (
                    f"payload: required on the first line of an event ({record[A_EVENT_ID]} has no stored payload yet)"
                )
            else:
                result.rejected[key] = (
                    f"event_type: {record[A_EVENT_TYPE]!r} does not match {stored_type!r}, "
                    f"the type already stored for {record[A_EVENT_ID]}"
                )
    fresh = candidates
    ahead = ordering.before_write(conn, dialect, batch.ordering)
    before = _last_seq(conn)
    if candidates and not _insert_new(conn, dialect, "delivery_attempt", ATTEMPT_COLUMNS, candidates):
        ids = sorted({r[A_EVENT_ID] for r in candidates})
        head = "SELECT event_id, endpoint_id, attempt, trigger FROM delivery_attempt"
        stored_keys = set(_select_in(conn, dialect, head, "event_id", ids))  # natural keys
        fresh = [
            r
            for r in candidates
            if (r[A_EVENT_ID], r[A_ENDPOINT_ID], r[A_ATTEMPT], r[A_TRIGGER]) not in stored_keys
        ]
        dialect.bulk_insert(conn, "delivery_attempt", ATTEMPT_COLUMNS, fresh)
    result.duplicates += len(candidates) - len(fresh)
    result.inserted = len(fresh)
    if not fresh:
        return result
    if len(fresh) != len(batch.attempts):
        # the sums were for attempts that are not all going in: redo them (with the events, which the
        # ordering anomalies read)
        batch = prepare_batch([AttemptRecord._make(r) for r in fresh], batch.events.values())
    in_sequence = _inserted_in_sequence(conn, before, len(fresh))
    # The missing-delivery counts: the contributions of the batch's events before and after their deliveries
    # change (events new in this batch have none before). In sequence, the events are named by the attempts
    # just inserted, so staged rows are never decoded here.
    if in_sequence:
        touched_sql, touched_params = (
            _TOUCHED_SQL.format(p=dialect.placeholder),
            [before, before + len(fresh)],
        )
    else:
        touched_sql, touched_params = dialect.in_list("d.event_id", sorted({r[A_EVENT_ID] for r in fresh}))
    counted_before = gap_counts.contributions(conn, touched_sql, touched_params) if preexisting else None
    moved: dict[tuple[str, str], tuple[int, bool] | None] = {}
    result.newly_delivered = _update_deliveries(
        conn, dialect, batch, preexisting, before if in_sequence else None, moved
    )
    if ahead is not None:
        _order(conn, dialect, batch, moved, offered, people, ahead)
    _register_endpoints(conn, dialect, batch.endpoints)
    counted_after = gap_counts.contributions(conn, touched_sql, touched_params)
    gap_counts.apply(conn, dialect, counted_before or Counter(), counted_after)
    batch.rollups.flush(conn, dialect)
    return result


def _order(
    conn: Connection,
    dialect: Dialect,
    batch: PreparedBatch,
    moved: dict[tuple[str, str], tuple[int, bool] | None],
    offered: dict[str, EventRecord],
    people: dict[str, tuple[str | None, int]],
    ahead: ordering.Before,
) -> None:
    """Hand the deliveries this batch delivered or moved earlier to the ordering anomalies: the batch's own
    delivery times, except for stored deliveries, whose merged times `_update_deliveries` left in `moved`."""
    delivered = batch.ordering.delivering
    earlier = set()
    if moved:
        delivered = {pair: at for pair, at in delivered.items() if pair not in moved}
        for pair, change in moved.items():
            if change is not None:
                delivered[pair], was_delivered = change
                if was_delivered:
                    earlier.add(pair)
    offered_stored = len(offered) < len(batch.events)
    ordering.after_write(
        conn,
        dialect,
        ahead,
        batch.ordering,
        batch.endpoints,
        delivered,
        earlier,
        offered,
        people,
        offered_stored,
    )


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
    SCHEDULED_COUNT,
    SCHEDULED_MAX,
) = range(16)
_SCHEDULED = Trigger.SCHEDULED.value
# Positions in a delivery row: its key, its event type, then the state columns.
DELIVERY_ROW_EVENT_ID, DELIVERY_ROW_ENDPOINT_ID, DELIVERY_ROW_EVENT_TYPE, DELIVERY_ROW_STATE = range(4)


def state_of_one(r: AttemptRecord) -> list[Any]:
    """The state of a delivery after its only attempt (fields by position: this runs once per attempt)."""
    at, n, outcome, trigger = r[A_ATTEMPTED_AT_MS], r[A_ATTEMPT], r[A_OUTCOME], r[A_TRIGGER]
    status, error = r[A_STATUS_CODE], r[A_ERROR]
    counted, top = (1, n) if trigger == _SCHEDULED else (0, 0)  # the scheduled attempts' count and highest
    if outcome == _SUCCESS:
        return [1, 1, n, at, n, trigger, outcome, at, n, outcome, status, error, at, n, counted, top]
    return [1, 0, n, at, n, trigger, outcome, at, n, outcome, status, error, None, None, counted, top]


def apply_attempt(state: list[Any], r: AttemptRecord) -> None:
    """Fold one attempt into a delivery state: first and last by (time, attempt number), delivered by the
    earliest success (fields by position, as in `state_of_one`)."""
    at, n, outcome = r[A_ATTEMPTED_AT_MS], r[A_ATTEMPT], r[A_OUTCOME]
    state[ATTEMPTS] += 1
    if n > state[MAX_ATTEMPT]:
        state[MAX_ATTEMPT] = n
    if r[A_TRIGGER] == _SCHEDULED:  # attempts come unique by (number, trigger): a count of distinct numbers
        state[SCHEDULED_COUNT] += 1
        if n > state[SCHEDULED_MAX]:
            state[SCHEDULED_MAX] = n
    if (at, n) < (state[FIRST_AT], state[FIRST_N]):
        state[FIRST_AT], state[FIRST_N], state[FIRST_TRIGGER], state[FIRST_OUTCOME] = (
            at,
            n,
            r[A_TRIGGER],
            outcome,
        )
    if (at, n) > (state[LAST_AT], state[LAST_N]):
        state[LAST_AT], state[LAST_N] = at, n
        state[LAST_OUTCOME], state[LAST_STATUS], state[LAST_ERROR] = outcome, r[A_STATUS_CODE], r[A_ERROR]
    if outcome == _SUCCESS:
        state[SUCCESSES] += 1
        if state[DELIVERED_AT] is None or (at, n) < (state[DELIVERED_AT], state[DELIVERED_N]):
            state[DELIVERED_AT], state[DELIVERED_N] = at, n


def merge_states(old: list[Any], new: list[Any]) -> list[Any]:
    """The state of a delivery whose attempts are those of `old` and those of `new`."""
    merged = list(old)
    merged[ATTEMPTS] += new[ATTEMPTS]
    merged[SUCCESSES] += new[SUCCESSES]
    merged[MAX_ATTEMPT] = max(old[MAX_ATTEMPT], new[MAX_ATTEMPT])
    merged[SCHEDULED_COUNT] += new[SCHEDULED_COUNT]
    merged[SCHEDULED_MAX] = max(old[SCHEDULED_MAX], new[SCHEDULED_MAX])
    if (new[FIRST_AT], new[FIRST_N]) < (old[FIRST_AT], old[FIRST_N]):
        merged[FIRST_AT : FIRST_OUTCOME + 1] = new[FIRST_AT : FIRST_OUTCOME + 1]
    if (new[LAST_AT], new[LAST_N]) > (old[LAST_AT], old[LAST_N]):
        merged[LAST_AT : LAST_ERROR + 1] = new[LAST_AT : LAST_ERROR + 1]
    if new[DELIVERED_AT] is not None and (
        old[DELIVERED_AT] is None
        or (new[DELIVERED_AT], new[DELIVERED_N]) < (old[DELIVERED_AT], old[DELIVERED_N])
    ):
        merged[DELIVERED_AT], merged[DELIVERED_N] = new[DELIVERED_AT], new[DELIVERED_N]
    return merged


def count_delivery(
    rollups: RollupAccumulator, state: list[Any], endpoint_id: str, event_type: str, sign: int
) -> None:
    """Count a delivery in the rollups by its state (sign 1), or take it out (sign -1): in the bucket and
    trigger of its first attempt, and when delivered, the attempt that delivered it and when."""
    done = state[DELIVERED_AT] is not None
    rollups.add_delivery(
        state[FIRST_AT],
        endpoint_id,
        event_type,
        state[FIRST_TRIGGER],
        sign,
        sign * done,
        state[DELIVERED_N],
        state[DELIVERED_AT],
    )


def single_row(r: AttemptRecord) -> tuple[Any, ...]:
    """The row of a delivery whose only attempt is `r`."""
    return (r[A_EVENT_ID], r[A_ENDPOINT_ID], r[A_EVENT_TYPE], *state_of_one(r))


_DELIVERY_ROW_COLUMNS = ("event_id", "endpoint_id", "event_type", *DELIVERY_STATE_COLUMNS)
# `single_row` in SQL, for attempts just inserted: the store copies the fields itself, where a row built here
# costs a bound parameter per column (a delivery row was a third of the writer's time).
_SINGLE_ROWS_SQL = (
    f"INSERT INTO delivery ({', '.join(_DELIVERY_ROW_COLUMNS)}) "
    "SELECT event_id, endpoint_id, event_type, 1, CASE WHEN outcome = 'success' THEN 1 ELSE 0 END, attempt, "
    "attempted_at, attempt, trigger, outcome, attempted_at, attempt, outcome, status_code, error, "
    "CASE WHEN outcome = 'success' THEN attempted_at END, CASE WHEN outcome = 'success' THEN attempt END, "
    "CASE WHEN trigger = 'scheduled' THEN 1 ELSE 0 END, CASE WHEN trigger = 'scheduled' THEN attempt ELSE 0 END "
    "FROM delivery_attempt WHERE seq > {p} AND seq <= {p}"
)


_STORED_EVENTS_SQL = "SELECT event_id, event_type, user_id, occurred_at FROM event"
_TOUCHED_SQL = "d.event_id IN (SELECT event_id FROM delivery_attempt WHERE seq > {p} AND seq <= {p})"


def _last_seq(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM delivery_attempt").scalar_one())


def _inserted_in_sequence(conn: Connection, before: int, count: int) -> bool:
    """True when the `count` attempts just inserted hold exactly the seqs after `before`, in order (writers
    hold the store's write lock, so they do unless a sequence skipped values)."""
    return _last_seq(conn) == before + count


def _insert_single_rows(
    conn: Connection, dialect: Dialect, before: int, count: int, skip: Sequence[int]
) -> None:
    """Insert the row of each delivery whose only attempt is one of the `count` attempts just inserted after
    seq `before`, except the attempts at positions `skip`."""
    p = dialect.placeholder
    sql = _SINGLE_ROWS_SQL.format(p=p)
    params: list[Any] = [before, before + count]
    if skip:
        condition, values = dialect.in_list(f"seq - {p}", skip)
        sql += f" AND NOT ({condition})"
        params += [before + 1, *values]
    conn.exec_driver_sql(sql, tuple(params))


def _update_deliveries(
    conn: Connection,
    dialect: Dialect,
    batch: PreparedBatch,
    preexisting_events: set[str],
    inserted_after: int | None,
    moved: dict[tuple[str, str], tuple[int, bool] | None],
) -> int:
    """Insert new deliveries, merge the batch into stored ones, and move their rollup counts.

    The batch counted every delivery as new; only events stored before this batch can have stored
    deliveries, so only those are looked up and corrected. With `inserted_after` (the seq the batch's
    attempts follow, in order), the rows of deliveries with one attempt are copied by the store from those
    attempts, save for the events stored before. `moved` gets each stored delivery the batch touched: its new
    delivery time when the batch delivered it or moved that time earlier, and whether it was delivered before;
    else None.
    """
    rollups = batch.rollups
    skip: list[int] = []
    if inserted_after is None:
        rows = batch.delivery_rows()
    else:
        rows = dict(batch.deliveries)
        skip = batch.multi_positions
        if preexisting_events:  # their deliveries may be stored: merged below
            multi = set(skip)
            added = []
            for i, r in where_first_in(batch.attempts, preexisting_events):
                if i not in multi:
                    rows[(r[A_EVENT_ID], r[A_ENDPOINT_ID])] = single_row(r)
                    added.append(i)
            skip = sorted([*skip, *added])
    merged: dict[tuple[str, str], list[Any]] = {}
    newly_delivered = batch.delivered
    if preexisting_events:
        head = f"SELECT event_id, endpoint_id, {', '.join(DELIVERY_STATE_COLUMNS)} FROM delivery"
        for row in _select_in(conn, dialect, head, "event_id", sorted(preexisting_events)):
            event_id, endpoint_id, *old = row
            pair = (event_id, endpoint_id)
            new_row = rows.get(pair)
            if new_row is None:
                continue
            new = list(new_row[DELIVERY_ROW_STATE:])
            both = merged[pair] = merge_states(old, new)
            event_type = new_row[DELIVERY_ROW_EVENT_TYPE]
            old_done, new_done, both_done = (s[DELIVERED_AT] is not None for s in (old, new, both))
            count_delivery(rollups, new, endpoint_id, event_type, -1)
            count_delivery(rollups, old, endpoint_id, event_type, -1)
            count_delivery(rollups, both, endpoint_id, event_type, 1)
            newly_delivered -= int(new_done) - int(both_done and not old_done)
            moved[pair] = (
                (both[DELIVERED_AT], old_done)
                if both_done and (not old_done or both[DELIVERED_AT] < old[DELIVERED_AT])
                else None
            )
    inserts = [row for pair, row in rows.items() if pair not in merged] if merged else list(rows.values())
    dialect.bulk_insert(conn, "delivery", _DELIVERY_ROW_COLUMNS, inserts)
    if inserted_after is not None and len(skip) < len(batch.attempts):  # (a replay's attempts: none to copy)
        _insert_single_rows(conn, dialect, inserted_after, len(batch.attempts), skip)
    if merged:
        p = dialect.placeholder
        assignments = ", ".join(f"{c} = {p}" for c in DELIVERY_STATE_COLUMNS)
        conn.exec_driver_sql(
            f"UPDATE delivery SET {assignments} WHERE event_id = {p} AND endpoint_id = {p}",
            [(*state, *pair) for pair, state in merged.items()],  # pair: (event_id, endpoint_id),
        )
    return newly_delivered


def _register_endpoints(conn: Connection, dialect: Dialect, endpoint_ids: frozenset[str]) -> None:
    p = dialect.placeholder
    conn.exec_driver_sql(
        f"INSERT INTO endpoint (id, enabled) VALUES ({p}, {p}) ON CONFLICT (id) DO NOTHING",
        [(e, True) for e in sorted(endpoint_ids)],
    )
