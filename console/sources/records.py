"""Turning a dispatcher's row into the project's records, under the same rules as a log line
(`console.ingest.lines`): ids printable and at most 200 characters, attempt numbers from 1, HTTP statuses
100-599, latencies from 0 to one day. A row that breaks one is rejected with the field named."""

from __future__ import annotations

import contextlib
import math
import re

import orjson

from console.domain.outcomes import Outcome, Trigger, classify_outcome
from console.domain.payload_fields import DEFAULT_PATHS, FieldPaths, read_fields
from console.domain.records import AttemptRecord, EventRecord
from console.domain.times import parse_rfc3339_ms
from console.ingest.lines import (
    MAX_ATTEMPT,
    MAX_ID_LENGTH,
    MAX_LATENCY_MS,
    RESPONSE_EXCERPT_BYTES,
    LineError,
)

NO_RESPONSE = "no response"
FAILED_DESPITE = "recorded as failed by the dispatcher after HTTP"


def _text(name: str, value: object) -> str:
    if (
        type(value) is str
        and 0 < len(value) <= MAX_ID_LENGTH
        and value.isprintable()
        and value == value.strip()
    ):
        return value
    if value is None or value == "":
        raise LineError(name, "missing (required)")
    if not isinstance(value, str):
        raise LineError(name, f"must be a string, got {type(value).__name__}")
    if len(value) > MAX_ID_LENGTH:
        raise LineError(name, f"longer than {MAX_ID_LENGTH} characters")
    raise LineError(name, "contains control characters or surrounding spaces")


# Event types and endpoint ids found good: a dispatcher repeats a few of them on every row, so each is checked
# once (forgotten past this many).
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 10_000
_new = tuple.__new__
_SUCCESS, _HTTP_ERROR = Outcome.SUCCESS, Outcome.HTTP_ERROR


def build_attempt(
    event_id: str,
    event_type: str,
    endpoint_id: str,
    attempt: int,
    attempted_at_ms: int,
    status_code: int | None,
    latency_ms: float | None,
    error: str | None,
    trigger: Trigger,
    response: str | None = None,
) -> AttemptRecord:
    """One attempt record; raises LineError naming the field at fault."""
    good = _GOOD_NAMES
    if not (
        event_type in good
        and endpoint_id in good
        and type(event_id) is str
        and 0 < len(event_id) <= MAX_ID_LENGTH
        and event_id.isprintable()
        and event_id == event_id.strip()
    ):
        _text("event_id", event_id)
        _text("event_type", event_type)
        _text("endpoint_id", endpoint_id)
        if len(good) >= _GOOD_NAMES_MAX:
            good.clear()
        good.add(event_type)
        good.add(endpoint_id)
    if not 1 <= attempt <= MAX_ATTEMPT:
        raise LineError("attempt", f"must be an integer >= 1, got {attempt}")
    if status_code is not None and not 100 <= status_code <= 599:
        raise LineError("status_code", f"must be an HTTP status 100-599 or null, got {status_code}")
    if latency_ms is not None:
        latency_ms = float(latency_ms)
        if not math.isfinite(latency_ms) or not 0 <= latency_ms <= MAX_LATENCY_MS:
            raise LineError(
                "latency_ms", f"must be a number >= 0 (at most one day) or null, got {latency_ms}"
            )
    if status_code is None:
        if not error:
            error = NO_RESPONSE
        outcome = classify_outcome(None, error)
        excerpt = None
    else:
        outcome = _SUCCESS if 200 <= status_code < 300 else _HTTP_ERROR
        error = None
        excerpt = response.encode()[:RESPONSE_EXCERPT_BYTES].decode(errors="ignore") if response else None
    return _new(
        AttemptRecord,
        (
            event_id,
            event_type,
            endpoint_id,
            attempt,
            attempted_at_ms,
            outcome,
            status_code,
            latency_ms,
            error,
            trigger,
            None,
            None,
            excerpt,
        ),
    )


def failed_despite(status_code: int | None, error: str | None) -> tuple[int | None, str | None]:
    """An attempt the dispatcher recorded as failed although its status is 2xx (Convoy: the response body
    could not be read; it retries): stored without a status, the status kept in the error text, so it never
    counts as delivered."""
    if status_code is None or not 200 <= status_code < 300:
        return status_code, error
    return None, f"{FAILED_DESPITE} {status_code}" + (f": {error}" if error else "")


def build_event(
    event_id: str,
    event_type: str,
    occurred_at_ms: int,
    payload: bytes,
    paths: FieldPaths = DEFAULT_PATHS,
) -> EventRecord:
    """The event of a dispatcher message: its payload bytes as sent, and the business fields found through
    `paths` (the payload's own time, when found, is the event's time). LineError names a bad id or type."""
    _text("event_id", event_id)
    _text("event_type", event_type)
    try:
        decoded = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        decoded = None
    found = read_fields(decoded, paths)
    if found.time is not None:
        with contextlib.suppress(ValueError):
            occurred_at_ms = parse_rfc3339_ms(found.time)
    return EventRecord(
        event_id,
        event_type,
        occurred_at_ms,
        payload,
        found.user_id,
        found.reward_id,
        found.amount,
        found.currency,
    )


_GO_SPACE = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*")|[ \t\n\r]+', re.DOTALL)
_WHITE = re.compile(rb"[ \t\n\r]")


def go_compact(body: bytes) -> bytes:
    """JSON with insignificant whitespace removed and everything else kept byte for byte, as Go's
    `json.Compact` does (no HTML escaping, key order and string escapes untouched)."""
    if not _WHITE.search(body):
        return body  # nothing to remove (what a compact sender writes)
    return _GO_SPACE.sub(rb"\1", body)  # each string as it is (an unmatched group is empty), spaces gone
