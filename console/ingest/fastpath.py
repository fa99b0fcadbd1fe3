"""The fast path for a JSON Lines record: msgspec decodes and type-checks it in C, a few Python checks finish
the job. Anything it does not accept whole goes to the slow path (`lines.parse_line`), which decides and,
for a bad line, says exactly what is wrong; so both paths accept the same lines and store the same records.

It also keeps the payload as the exact bytes found in the log (msgspec.Raw), where the slow path can only
re-serialise the object it decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import msgspec
import orjson

from console.domain.outcomes import Outcome, Trigger, classify_outcome
from console.domain.payload_fields import amount_value, text_value
from console.domain.records import AttemptRecord, EventRecord
from console.domain.times import parse_rfc3339_ms
from console.ingest.lines import (
    MAX_ATTEMPT,
    MAX_ID_LENGTH,
    MAX_LATENCY_MS,
    RESPONSE_EXCERPT_BYTES,
    SENSITIVE_HEADERS,
)

# The default of the `Raw` fields: msgspec leaves this very object when one is absent.
_ABSENT = msgspec.Raw(b"")
_JSON_INT_MIN, _JSON_INT_MAX = -(1 << 63), (1 << 64) - 1  # the integers orjson (the slow path) reads as int

# Ids: msgspec checks the length; the rest of `_good_id` is left to Python.
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]


class _Line(msgspec.Struct, gc=False):
    """A line as the fast path takes it: a value out of these bounds fails the decode (the slow path decides)."""

    event_id: _Id
    event_type: _Id
    endpoint_id: _Id
    attempt: Annotated[int, msgspec.Meta(ge=1, le=MAX_ATTEMPT)]
    attempted_at: str
    status_code: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None
    latency_ms: Annotated[float, msgspec.Meta(ge=0, le=MAX_LATENCY_MS)] | None = None
    outcome: Outcome | None = None
    error: str | None = None
    trigger: Trigger = Trigger.SCHEDULED
    endpoint_url: str | None = None
    replay_job_id: str | None = None
    payload: msgspec.Raw = _ABSENT
    request_headers: msgspec.Raw = _ABSENT
    response_body: str | None = None


class _Fields(msgspec.Struct):
    """The business fields of a payload or of one of its envelopes (docs/payload-fields.md)."""

    timestamp: object = None
    user_id: object = None
    reward_id: object = None
    amount: object = None
    currency: object = None


class _Payload(_Fields):
    """A payload: its fields at the top level, then in `data`, then in `payload` (an envelope that is not an
    object fails the decode: the slow path decides)."""

    data: _Fields | None = None
    payload: _Fields | None = None


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_payload = msgspec.json.Decoder(_Payload).decode
_decode_headers = msgspec.json.Decoder(dict[str, str] | None).decode
_DecodeError = (msgspec.ValidationError, msgspec.DecodeError)
_new = tuple.__new__
_SUCCESS, _HTTP_ERROR = Outcome.SUCCESS, Outcome.HTTP_ERROR


def _good_id(value: str) -> bool:
    return 0 < len(value) <= MAX_ID_LENGTH and value.isprintable() and value == value.strip()


# Event types and endpoint ids found good, each kept as one shared string: a log repeats a few of them on
# every line, so each is checked once, and a batch sent to the writing process pickles each once (a third
# less pickling than one copy per line).
_SHARED_IDS: dict[str, str] = {}
_SHARED_MAX = 10_000


def _shared_good_id(value: str) -> str | None:
    """The shared copy of a good id, or None when it is not a good id."""
    shared = _SHARED_IDS.get(value)
    if shared is not None:
        return shared
    if not _good_id(value):
        return None
    if len(_SHARED_IDS) >= _SHARED_MAX:
        _SHARED_IDS.clear()
    _SHARED_IDS[value] = value
    return value


def fast_parse(raw: bytes) -> tuple[AttemptRecord, EventRecord | None] | None:
    """The records of a well-formed line, or None to let the slow path decide.

    msgspec does not check the UTF-8 of what it skips (unknown fields, the raw payload), so a line that is
    not ASCII is checked whole first; the slow path rejects such a line, naming the bad byte.
    """
    is_ascii = raw.isascii()
    try:
        if not is_ascii:
            raw.decode()
        line = _decode_line(raw)
    except (*_DecodeError, UnicodeDecodeError, RecursionError):
        return None
    event_id = line.event_id
    event_type = _SHARED_IDS.get(line.event_type) or _shared_good_id(line.event_type)
    endpoint_id = _SHARED_IDS.get(line.endpoint_id) or _shared_good_id(line.endpoint_id)
    if event_type is None or endpoint_id is None or not _good_id(event_id):
        return None
    try:
        attempted_at = parse_rfc3339_ms(line.attempted_at)
    except ValueError:
        return None
    status = line.status_code
    derived = classify_outcome(status, line.error)
    outcome = line.outcome
    if outcome is None:
        outcome = derived
    elif (status is not None and outcome is not derived) or (
        status is None and outcome in (_SUCCESS, _HTTP_ERROR)
    ):
        return None
    headers = None
    if line.request_headers is not _ABSENT:
        try:
            headers = _headers_text(line.request_headers, is_ascii)
        except (*_DecodeError, RecursionError):
            return None
    body = line.response_body
    record: AttemptRecord = _new(
        AttemptRecord,
        (
            event_id,
            event_type,
            endpoint_id,
            line.attempt,
            attempted_at,
            outcome,
            status,
            line.latency_ms,
            line.error,
            line.trigger,
            line.replay_job_id,
            headers,
            body.encode()[:RESPONSE_EXCERPT_BYTES].decode(errors="ignore") if body else None,
        ),
    )
    if line.payload is _ABSENT:
        return record, None
    payload = bytes(line.payload)
    if payload == b"null":
        return record, None
    event = _event(event_id, event_type, attempted_at, payload)
    return None if event is None else (record, event)


# The verdict on a set of header names (see `_headers_text`), by the headers' text without their values.
_HEADER_SHAPES: dict[str, bool] = {}
_HEADER_SHAPES_MAX = 10_000


def _headers_text(headers: msgspec.Raw, is_ascii: bool) -> str | None:
    """The request headers as stored: compact JSON, credentials redacted (a decode error when they are not
    an object of strings).

    Headers found as `{"name":"value",...}` (ASCII, no escape, no white space, no name twice, no credential)
    are already what `orjson.dumps` writes of them, so they are kept as they are; deciding that takes a look-up
    keyed by the text without its values, which a log repeats on every line.
    """
    if is_ascii:
        text = str(headers, "ascii")
        if "\\" not in text:
            parts = text.split('"')
            del parts[3::4]  # what would be the values in that shape
            shape = '"'.join(parts)
            fit = _HEADER_SHAPES.get(shape)
            if fit is None:
                fit = _plain_names(parts)
                if len(_HEADER_SHAPES) >= _HEADER_SHAPES_MAX:
                    _HEADER_SHAPES.clear()
                _HEADER_SHAPES[shape] = fit
            if fit:
                return text
    decoded = _decode_headers(headers)
    if decoded is None:
        return None
    if not SENSITIVE_HEADERS.isdisjoint(map(str.lower, decoded)):
        decoded = {k: ("[redacted]" if k.lower() in SENSITIVE_HEADERS else v) for k, v in decoded.items()}
    return orjson.dumps(decoded).decode()


def _plain_names(parts: list[str]) -> bool:
    """Whether `parts` (headers' text split at quotes, values taken out) are those of `{"name":"value",...}`
    with each name once and none a credential."""
    names = parts[1::3]
    count = len(names)
    return (
        len(parts) == 3 * count + 1
        and parts[0] == "{"
        and parts[-1] == "}"
        and parts[2::3] == [":"] * count
        and parts[3:-1:3] == [","] * (count - 1)
        and len(set(names)) == count
        and SENSITIVE_HEADERS.isdisjoint(name.lower() for name in names)
    )


def _event(event_id: str, event_type: str, attempted_at: int, payload: bytes) -> EventRecord | None:
    if payload[:1] != b"{":
        return None  # a payload given as a string, or not an object: the slow path decides
    try:
        fields = _decode_payload(payload)
    except (*_DecodeError, RecursionError):
        return None
    envelopes = [f for f in (fields.data, fields.payload) if f is not None]
    if _wide_int(fields) or (envelopes and any(_wide_int(f) for f in envelopes)):
        return None
    user_id = _first(fields, envelopes, "user_id", text_value)
    reward_id = _first(fields, envelopes, "reward_id", text_value)
    amount = _first(fields, envelopes, "amount", amount_value)
    currency = _first(fields, envelopes, "currency", text_value)
    stamp = _first(fields, envelopes, "timestamp", text_value)
    occurred_at = attempted_at
    if stamp is not None:
        try:
            occurred_at = parse_rfc3339_ms(stamp)
        except ValueError:
            occurred_at = attempted_at  # a timestamp that is no RFC 3339 one is not the event's time
    # Exact types: msgspec decodes an `object` field to built-in types, never a subclass (a bool's type is bool).
    event: EventRecord = _new(
        EventRecord,
        (
            event_id,
            event_type,
            occurred_at,
            payload,
            user_id,
            reward_id,
            amount,
            currency,
        ),
    )
    return event


def _first(
    fields: _Fields, envelopes: list[_Fields], name: str, reader: Callable[[object], str | None]
) -> str | None:
    """The field `name` as `read_fields` finds it with the default paths: the top level, then each envelope."""
    value = reader(getattr(fields, name))
    if value is None:
        for envelope in envelopes:
            value = reader(getattr(envelope, name))
            if value is not None:
                break
    return value


def _wide_int(fields: _Fields) -> bool:
    """An integer past 64 bits, which the slow path's decoder (orjson) reads as a float: it decides."""
    return any(
        type(v) is int and not _JSON_INT_MIN <= v <= _JSON_INT_MAX
        for v in (fields.user_id, fields.reward_id, fields.amount, fields.currency, fields.timestamp)
    )
