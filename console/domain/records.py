"""Records that cross layers: one delivery attempt and one event, as ingest and the sender produce them.

They are NamedTuples whose field order is the store's column order, so a batch of them goes to the database
as it is, without copying (ingest handles a million of them per run). Each field's other names (store column,
log field, export column) are declared once below (`ATTEMPT_FIELDS`, `EVENT_FIELDS`), and code that indexes a
record by position uses the named positions held to the field order (`A_ERROR`, `E_USER_ID`, ...).
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple, get_type_hints

from console.domain.outcomes import Outcome, Trigger


class EventRecord(NamedTuple):
    """One event: its payload is kept once, as the exact bytes a receiver is sent."""

    event_id: str
    event_type: str
    occurred_at_ms: int
    payload: bytes
    user_id: str | None = None
    reward_id: str | None = None
    amount: str | None = None
    currency: str | None = None


class AttemptRecord(NamedTuple):
    """One HTTP delivery attempt of one event to one endpoint.

    `(event_id, endpoint_id, attempt, trigger)` is its natural key: the same attempt ingested twice is stored
    once. Scheduled (dispatcher) and manual (replay) attempts are numbered in sequences of their own.
    """

    event_id: str
    event_type: str
    endpoint_id: str
    attempt: int
    attempted_at_ms: int
    outcome: Outcome
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    trigger: Trigger = Trigger.SCHEDULED
    replay_job_id: str | None = None
    request_headers: str | None = None
    response_excerpt: str | None = None

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.event_id, self.endpoint_id, self.attempt, self.trigger)


class Field(NamedTuple):
    """The names one record field goes by outside the record: its store column; the delivery log field it is
    read from (None: not read from the log), how a CSV cell of it reads (`log_kind`: text, int, float, or json
    for a cell decoded to an object) and whether every line must carry it; its column in the attempts export
    (None: not exported)."""

    name: str
    column: str
    log: str | None = None
    log_kind: str = "text"
    required: bool = False
    export: str | None = None


def _declared(record: type[tuple[Any, ...]], fields: tuple[Field, ...]) -> tuple[Field, ...]:
    names = tuple(f.name for f in fields)
    if names != record._fields:  # type: ignore[attr-defined]
        raise TypeError(f"{record.__name__}: declared fields {names} are not its fields {record._fields}")  # type: ignore[attr-defined]
    return fields


# The one declaration of each field's names: adding a log field adds it to the record above and here, then to
# the parsers' mapping (console/ingest/lines.py and fastpath.py). Everything else takes the names from here.
ATTEMPT_FIELDS = _declared(
    AttemptRecord,
    (
        Field("event_id", "event_id", "event_id", required=True, export="event_id"),
        Field("event_type", "event_type", "event_type", required=True, export="event_type"),
        Field("endpoint_id", "endpoint_id", "endpoint_id", required=True, export="endpoint_id"),
        Field("attempt", "attempt", "attempt", "int", required=True, export="attempt"),
        Field("attempted_at_ms", "attempted_at", "attempted_at", required=True, export="attempted_at"),
        Field("outcome", "outcome", "outcome", export="outcome"),
        Field("status_code", "status_code", "status_code", "int", export="status_code"),
        Field("latency_ms", "latency_ms", "latency_ms", "float", export="latency_ms"),
        Field("error", "error", "error", export="error"),
        Field("trigger", "trigger", "trigger", export="trigger"),
        Field("replay_job_id", "replay_job_id", "replay_job_id", export="replay_job_id"),
        Field("request_headers", "request_headers", "request_headers", "json"),
        Field("response_excerpt", "response_excerpt", "response_body"),
    ),
)
EVENT_FIELDS = _declared(
    EventRecord,
    (
        Field("event_id", "event_id", "event_id"),
        Field("event_type", "event_type", "event_type"),
        Field("occurred_at_ms", "occurred_at"),  # the payload's timestamp, else the first attempt's time
        Field("payload", "payload", "payload", export="payload"),  # a CSV cell: a string holding the object
        Field("user_id", "user_id", export="user_id"),  # the business fields: read from the payload
        Field("reward_id", "reward_id", export="reward_id"),
        Field("amount", "amount", export="amount"),
        Field("currency", "currency", export="currency"),
    ),
)
# Log fields read into no record: informational only.
INFORMATIONAL_LOG_FIELDS = ("endpoint_url",)

ATTEMPT_COLUMNS = tuple(f.column for f in ATTEMPT_FIELDS)
EVENT_COLUMNS = tuple(f.column for f in EVENT_FIELDS)
# Every field of the delivery log format (docs/log-format.md): the attempt's, then the event's, then the rest.
LOG_FIELDS = tuple(
    dict.fromkeys(
        [*(f.log for f in ATTEMPT_FIELDS + EVENT_FIELDS if f.log is not None), *INFORMATIONAL_LOG_FIELDS]
    )
)
REQUIRED_LOG_FIELDS = tuple(f.log for f in ATTEMPT_FIELDS if f.required and f.log is not None)


def log_fields_of_kind(kind: str) -> tuple[str, ...]:
    """The log fields whose CSV cells read as `kind` (int, float, json)."""
    return tuple(f.log for f in ATTEMPT_FIELDS + EVENT_FIELDS if f.log_kind == kind and f.log is not None)


# The attempts export: its row number and the attempt's exported fields (columns of the attempt table), then
# its event's (of the event table, joined), the payload last as the widest.
ATTEMPT_EXPORT_ATTEMPT_COLUMNS = ("seq", *(f.export for f in ATTEMPT_FIELDS if f.export is not None))
ATTEMPT_EXPORT_EVENT_COLUMNS = tuple(
    sorted((f.export for f in EVENT_FIELDS if f.export is not None), key=lambda name: name == "payload")
)


def _free_text(record: type[tuple[Any, ...]]) -> tuple[int, ...]:
    """Positions of optional text fields (`str | None`): free text, which may hold a NUL."""
    hints = get_type_hints(record)
    return tuple(i for i, name in enumerate(record._fields) if hints[name] == str | None)  # type: ignore[attr-defined]


ATTEMPT_FREE_TEXT = _free_text(AttemptRecord)
EVENT_FREE_TEXT = _free_text(EventRecord)

# Named positions of the records' fields. Literal numbers, so that mypy knows each field's type by its
# position and a hot loop indexes a record (a tuple) as fast as with a bare number; `_check_positions` holds
# them to the field order at import, and tests/test_record_fields.py to one per field.
A_EVENT_ID: Final = 0
A_EVENT_TYPE: Final = 1
A_ENDPOINT_ID: Final = 2
A_ATTEMPT: Final = 3
A_ATTEMPTED_AT_MS: Final = 4
A_OUTCOME: Final = 5
A_STATUS_CODE: Final = 6
A_LATENCY_MS: Final = 7
A_ERROR: Final = 8
A_TRIGGER: Final = 9
A_REPLAY_JOB_ID: Final = 10
A_REQUEST_HEADERS: Final = 11
A_RESPONSE_EXCERPT: Final = 12
E_EVENT_ID: Final = 0
E_EVENT_TYPE: Final = 1
E_OCCURRED_AT_MS: Final = 2
E_PAYLOAD: Final = 3
E_USER_ID: Final = 4
E_REWARD_ID: Final = 5
E_AMOUNT: Final = 6
E_CURRENCY: Final = 7


def _check_positions(prefix: str, record: type[tuple[Any, ...]]) -> None:
    """Raise when a named position is not its field's place in `record`, or a field has none."""
    named = {n[len(prefix) :].lower(): v for n, v in globals().items() if n.startswith(prefix)}
    expected = {name: i for i, name in enumerate(record._fields)}  # type: ignore[attr-defined]
    if named != expected:
        raise TypeError(f"{record.__name__}: named positions {named} are not its field order {expected}")


_check_positions("A_", AttemptRecord)
_check_positions("E_", EventRecord)
