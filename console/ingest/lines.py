"""Turning one log line (a decoded mapping) into an attempt record and, on an event's first line, its event.

Every problem is a `LineError` naming the field; the caller adds the file and line number.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Mapping
from typing import Any

import msgspec
import orjson

from console.domain.outcomes import Outcome, Trigger, classify_outcome
from console.domain.payload_fields import DEFAULT_PATHS, FieldPaths, read_fields
from console.domain.records import AttemptRecord, EventRecord
from console.domain.times import parse_rfc3339_ms

MAX_ID_LENGTH = 200
MAX_ATTEMPT = 10_000
MAX_LATENCY_MS = 86_400_000.0
RESPONSE_EXCERPT_BYTES = 2048
# Headers whose values are credentials: kept as "[redacted]" so no secret reaches the store.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token"}
)
_OUTCOMES = {o.value: o for o in Outcome}
_TRIGGERS = {t.value: t for t in Trigger}


class LineError(ValueError):
    """A line that cannot be stored: `field` is the offending field (None for the line as a whole)."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


def _required_text(line: Mapping[str, Any], name: str) -> str:
    value = line.get(name)
    if (
        type(value) is str
        and 0 < len(value) <= MAX_ID_LENGTH
        and value.isprintable()
        and value == value.strip()
    ):
        return value  # the common case, decided in one test
    if value is None:
        raise LineError(name, "missing (required)")
    if not isinstance(value, str):
        raise LineError(name, f"must be a string, got {_kind(value)}")
    if not value.strip():
        raise LineError(name, "must not be empty")
    if value != value.strip():
        raise LineError(name, f"must not start or end with white space, got {_show(value)}")
    if len(value) > MAX_ID_LENGTH:
        raise LineError(name, f"longer than {MAX_ID_LENGTH} characters")
    raise LineError(name, "contains control characters")


def _optional_text(line: Mapping[str, Any], name: str) -> str | None:
    value = line.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise LineError(name, f"must be a string or null, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_line(
    line: Any, payload_bytes: bytes | None = None, paths: FieldPaths = DEFAULT_PATHS
) -> tuple[AttemptRecord, EventRecord | None]:
    """Validate one decoded log line; raises LineError naming the field at fault.

    `payload_bytes` are the exact bytes of the line's payload when it is an object (see `object_payload`):
    they are what is stored, as the fast path stores them; without them the object is serialised compactly.
    The payload's business fields are read through `paths` (a mapping file's `[payload]`, else the defaults).
    """
    if not isinstance(line, dict):
        raise LineError(None, f"must be a JSON object, got {_kind(line)}")
    event_id = _required_text(line, "event_id")
    event_type = _required_text(line, "event_type")
    endpoint_id = _required_text(line, "endpoint_id")

    attempt = line.get("attempt")
    if attempt is None:
        raise LineError("attempt", "missing (required)")
    if type(attempt) is not int or not 1 <= attempt <= MAX_ATTEMPT:
        raise LineError("attempt", f"must be an integer >= 1, got {_show(attempt)}")

    stamp = line.get("attempted_at")
    if stamp is None:
        raise LineError("attempted_at", "missing (required)")
    if not isinstance(stamp, str):
        raise LineError("attempted_at", f"must be an RFC 3339 string, got {_kind(stamp)}")
    try:
        attempted_at = parse_rfc3339_ms(stamp)
    except ValueError as exc:
        raise LineError("attempted_at", f"{exc} (got {stamp!r})") from None

    status = line.get("status_code")
    if status is not None and (
        not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599
    ):
        raise LineError("status_code", f"must be an HTTP status 100-599 or null, got {_show(status)}")

    latency = line.get("latency_ms")
    if latency is not None:
        if type(latency) is not float and type(latency) is not int:
            raise LineError("latency_ms", f"must be a number >= 0 or null, got {_kind(latency)}")
        if not math.isfinite(latency) or not 0 <= latency <= MAX_LATENCY_MS:
            raise LineError(
                "latency_ms", f"must be a number >= 0 (at most one day) or null, got {_show(latency)}"
            )
        latency = float(latency)

    error = _optional_text(line, "error")
    derived = classify_outcome(status, error)
    outcome_text = line.get("outcome")
    if outcome_text is None:
        outcome = derived
    else:
        found = _OUTCOMES.get(outcome_text) if isinstance(outcome_text, str) else None
        if found is None:
            raise LineError("outcome", f"must be one of {', '.join(_OUTCOMES)}, got {_show(outcome_text)}")
        outcome = found
        if status is not None and outcome is not derived:
            raise LineError("outcome", f"{outcome.value!r} contradicts status_code {status}")
        if status is None and outcome in (Outcome.SUCCESS, Outcome.HTTP_ERROR):
            raise LineError("outcome", f"{outcome.value!r} needs a status_code")

    trigger_text = line.get("trigger")
    trigger = Trigger.SCHEDULED
    if trigger_text is not None:
        named = _TRIGGERS.get(trigger_text) if isinstance(trigger_text, str) else None
        if named is None:
            raise LineError("trigger", f"must be scheduled or manual, got {_show(trigger_text)}")
        trigger = named

    for optional in ("endpoint_url", "replay_job_id"):
        _optional_text(line, optional)
    headers = _headers(line.get("request_headers"))
    body = _optional_text(line, "response_body")
    excerpt = body.encode()[:RESPONSE_EXCERPT_BYTES].decode(errors="ignore") if body else None

    record = AttemptRecord(
        event_id,
        event_type,
        endpoint_id,
        attempt,
        attempted_at,
        outcome,
        status,
        latency,
        error,
        trigger,
        line.get("replay_job_id"),
        headers,
        excerpt,
    )
    payload = line.get("payload")
    if payload is None:
        return record, None
    return record, _event(event_id, event_type, attempted_at, payload, payload_bytes, paths)


class _PayloadOnly(msgspec.Struct):
    payload: msgspec.Raw = msgspec.Raw(b"")


_decode_payload_only = msgspec.json.Decoder(_PayloadOnly).decode


def object_payload(raw: bytes) -> bytes | None:
    """The exact bytes of the payload object of a JSON line already known to be valid JSON, or None."""
    try:
        found = _decode_payload_only(raw)
    except RecursionError:
        # Nested deeper than msgspec's stack allows here; the line is valid JSON (1,024 levels at most).
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 4096)
        try:
            found = _decode_payload_only(raw)
        finally:
            sys.setrecursionlimit(limit)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    payload = bytes(found.payload)
    return payload if payload[:1] == b"{" else None


def _event(
    event_id: str,
    event_type: str,
    attempted_at: int,
    payload: Any,
    payload_bytes: bytes | None,
    paths: FieldPaths,
) -> EventRecord:
    if isinstance(payload, str):
        raw = payload.encode()
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise LineError("payload", f"is not valid JSON ({exc})") from None
    else:
        raw = payload_bytes or b""
    if not isinstance(payload, dict):
        raise LineError("payload", f"must be a JSON object, got {_kind(payload)}")
    found = read_fields(payload, paths)  # by default: the top level, then data., then payload.
    occurred_at = attempted_at
    if found.time is not None:
        with contextlib.suppress(ValueError):
            occurred_at = parse_rfc3339_ms(found.time)
    return EventRecord(
        event_id=event_id,
        event_type=event_type,
        occurred_at_ms=occurred_at,
        payload=raw or orjson.dumps(payload),
        user_id=found.user_id,
        reward_id=found.reward_id,
        amount=found.amount,
        currency=found.currency,
    )


def _headers(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise LineError("request_headers", "must be an object of header name to string value")
    clean = {}
    for name, text in value.items():
        if type(text) is not str:
            raise LineError("request_headers", "must be an object of header name to string value")
        clean[name] = "[redacted]" if name.lower() in SENSITIVE_HEADERS else text
    return orjson.dumps(clean).decode()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
