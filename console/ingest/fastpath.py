"""The fast path for a JSON Lines record: msgspec decodes and type-checks it in C, a few Python checks finish
the job. Anything it does not accept whole goes to the slow path (`lines.parse_line`), which decides and,
for a bad line, says exactly what is wrong; so both paths accept the same lines and store the same records.

It also keeps the payload as the exact bytes found in the log (msgspec.Raw), where the slow path can only
re-serialise the object it decoded.
"""

from __future__ import annotations

import contextlib
import math

import msgspec
import orjson

from console.domain.outcomes import Outcome, Trigger, classify_outcome
from console.domain.records import AttemptRecord, EventRecord
from console.domain.times import parse_rfc3339_ms
from console.ingest.lines import (
    MAX_ATTEMPT,
    MAX_ID_LENGTH,
    MAX_LATENCY_MS,
    RESPONSE_EXCERPT_BYTES,
    SENSITIVE_HEADERS,
    text_or_none,
)

_NO_PAYLOAD = msgspec.Raw(b"")
_JSON_INT_MIN, _JSON_INT_MAX = -(1 << 63), (1 << 64) - 1  # the integers orjson (the slow path) reads as int


class _Line(msgspec.Struct):
    event_id: str
    event_type: str
    endpoint_id: str
    attempt: int
    attempted_at: str
    status_code: int | None = None
    latency_ms: float | None = None
    outcome: Outcome | None = None
    error: str | None = None
    trigger: Trigger = Trigger.SCHEDULED
    endpoint_url: str | None = None
    replay_job_id: str | None = None
    payload: msgspec.Raw = _NO_PAYLOAD
    request_headers: dict[str, str] | None = None
    response_body: str | None = None


class _Payload(msgspec.Struct):
    event_id: object = None
    event: object = None
    timestamp: object = None
    user_id: object = None
    reward_id: object = None
    amount: object = None
    currency: object = None


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_payload = msgspec.json.Decoder(_Payload).decode
_DecodeError = (msgspec.ValidationError, msgspec.DecodeError)


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
    try:
        if not raw.isascii():
            raw.decode()
        line = _decode_line(raw)
    except (*_DecodeError, UnicodeDecodeError, RecursionError):
        return None
    event_type = _SHARED_IDS.get(line.event_type) or _shared_good_id(line.event_type)
    endpoint_id = _SHARED_IDS.get(line.endpoint_id) or _shared_good_id(line.endpoint_id)
    if event_type is None or endpoint_id is None or not _good_id(line.event_id):
        return None
    if not 1 <= line.attempt <= MAX_ATTEMPT:
        return None
    status = line.status_code
    if status is not None and not 100 <= status <= 599:
        return None
    latency = line.latency_ms
    if latency is not None and not (0 <= latency <= MAX_LATENCY_MS and math.isfinite(latency)):
        return None
    try:
        attempted_at = parse_rfc3339_ms(line.attempted_at)
    except ValueError:
        return None
    derived = classify_outcome(status, line.error)
    outcome = line.outcome
    if outcome is None:
        outcome = derived
    elif (status is not None and outcome is not derived) or (
        status is None and outcome in (Outcome.SUCCESS, Outcome.HTTP_ERROR)
    ):
        return None
    headers = None
    if line.request_headers is not None:
        clean = line.request_headers
        if not SENSITIVE_HEADERS.isdisjoint(map(str.lower, clean)):
            clean = {k: ("[redacted]" if k.lower() in SENSITIVE_HEADERS else v) for k, v in clean.items()}
        headers = orjson.dumps(clean).decode()
    body = line.response_body
    excerpt = body.encode()[:RESPONSE_EXCERPT_BYTES].decode(errors="ignore") if body else None
    record = AttemptRecord(
        line.event_id,
        event_type,
        endpoint_id,
        line.attempt,
        attempted_at,
        outcome,
        status,
        float(latency) if latency is not None else None,
        line.error,
        line.trigger,
        line.replay_job_id,
        headers,
        excerpt,
    )
    payload = bytes(line.payload)
    if not payload or payload == b"null":
        return record, None
    event = _event(record, payload)
    return None if event is None else (record, event)


def _event(record: AttemptRecord, payload: bytes) -> EventRecord | None:
    if payload[:1] != b"{":
        return None  # a payload given as a string, or not an object: the slow path decides
    try:
        fields = _decode_payload(payload)
    except (*_DecodeError, RecursionError):
        return None
    if fields.event_id is not None and fields.event_id != record.event_id:
        return None
    if isinstance(fields.event, str) and fields.event != record.event_type:
        return None
    amount = fields.amount
    if int in (
        type(amount),
        type(fields.user_id),
        type(fields.reward_id),
        type(fields.currency),
    ) and _wide_int(amount, fields.user_id, fields.reward_id, fields.currency):
        return None
    occurred_at = record.attempted_at_ms
    if isinstance(fields.timestamp, str):
        with contextlib.suppress(ValueError):
            occurred_at = parse_rfc3339_ms(fields.timestamp)
    return EventRecord(
        record.event_id,
        record.event_type,
        occurred_at,
        payload,
        text_or_none(fields.user_id),
        text_or_none(fields.reward_id),
        str(amount) if isinstance(amount, int | float | str) and not isinstance(amount, bool) else None,
        text_or_none(fields.currency),
    )


def _wide_int(*values: object) -> bool:
    """An integer past 64 bits, which the slow path's decoder (orjson) reads as a float: it decides."""
    return any(type(v) is int and not _JSON_INT_MIN <= v <= _JSON_INT_MAX for v in values)
