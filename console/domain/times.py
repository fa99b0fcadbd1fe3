"""Time values: the store keeps integer milliseconds since the Unix epoch (UTC) on every dialect."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Timestamps are accepted from 1970-01-01T00:00:00Z up to, not including, 2100-01-01T00:00:00Z.
MIN_MS = 0
MAX_MS = 4_102_444_800_000
RANGE_TEXT = "1970-01-01T00:00:00Z up to 2100-01-01T00:00:00Z"
_ONE_MS = timedelta(milliseconds=1)
_UNIT_MS = {"ms": 1, "s": 1000, "m": MS_PER_MINUTE, "h": MS_PER_HOUR, "d": MS_PER_DAY, "w": 7 * MS_PER_DAY}


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(datetime.now(UTC).timestamp() * 1000)


_HOUR_CACHE: dict[str, int] = {}
# The exact shape ingest meets most, `YYYY-MM-DDTHH:MM:SS.mmmZ` (ASCII digits), takes three look-ups: the
# epoch ms of its minute by `YYYY-MM-DDTHH:MM:`, learnt from a timestamp of that minute `_parse_any`
# accepted, then its seconds (00-59: a leap second is `_parse_any`'s to decide) and its milliseconds.
_EXACT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9]\.[0-9]{3}Z")
_MINUTE_MS: dict[str, int] = {}
_MINUTES_KEPT = 100_000
_SECOND_MS = {f"{s:02d}": s * 1000 for s in range(60)}
_MILLIS = {f"{m:03d}": m for m in range(1000)}


def parse_rfc3339_ms(text: str) -> int:
    """Parse an RFC 3339 timestamp (offset required) to epoch ms; ValueError says what is wrong."""
    if len(text) == 24 and text[23] == "Z" and text[19] == ".":
        minute = _MINUTE_MS.get(text[:17])
        if minute is not None:
            second = _SECOND_MS.get(text[17:19])
            milli = _MILLIS.get(text[20:23])
            if second is not None and milli is not None:
                return minute + second + milli
    ms = _parse_any(text)
    if len(text) == 24 and _EXACT.fullmatch(text):
        if len(_MINUTE_MS) >= _MINUTES_KEPT:
            _MINUTE_MS.clear()
        _MINUTE_MS[text[:17]] = ms - _SECOND_MS[text[17:19]] - _MILLIS[text[20:23]]
    return ms


def _parse_any(text: str) -> int:
    """`parse_rfc3339_ms` without the look-ups: UTC timestamps (`...Z`) reuse the hour's epoch value."""
    if len(text) >= 20 and text[13] == ":" and text[16] == ":" and text[-1] in "Zz":
        hour = _HOUR_CACHE.get(text[:13])
        if hour is None and text[10] in "Tt":
            hour = _parse_full(text[:13] + ":00:00Z")
            if len(_HOUR_CACHE) > 100_000:
                _HOUR_CACHE.clear()
            _HOUR_CACHE[text[:13]] = hour
        minute, second, fraction = text[14:16], text[17:19], text[19:-1]
        if hour is not None and minute.isdigit() and second.isdigit() and minute < "60" and second < "60":
            if not fraction:
                return hour + int(minute) * 60_000 + int(second) * 1000
            if fraction[0] == "." and 1 < len(fraction) <= 10 and fraction[1:].isdigit():
                return hour + int(minute) * 60_000 + int(second) * 1000 + int((fraction[1:] + "00")[:3])
    return _parse_full(text)


def _parse_full(text: str) -> int:
    if not _RFC3339.match(text):
        raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-05-05T10:00:00Z")
    head, _, frac_and_zone = text.partition(".")
    if frac_and_zone:
        # Python accepts at most microseconds; keep the first six fraction digits.
        digits = re.match(r"\d+", frac_and_zone)
        assert digits is not None
        zone = frac_and_zone[digits.end() :]
        text = f"{head}.{digits.group()[:6].ljust(6, '0')}{zone}"
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"is not a real date and time ({exc})") from None
    ms = (moment - EPOCH) // _ONE_MS
    if not MIN_MS <= ms < MAX_MS:
        raise ValueError(f"is outside the supported range ({RANGE_TEXT})")
    return ms


def format_ms(ms: int | None) -> str:
    """Format epoch ms as RFC 3339 UTC with millisecond precision (always a four-digit year); empty for None."""
    if ms is None:
        return ""
    m = EPOCH + timedelta(milliseconds=ms)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{ms % 1000:03d}Z"
    )


def parse_duration_ms(text: str) -> int:
    """Parse `90d`, `24h`, `5m`, `30s`, `250ms` or `2w` to milliseconds (exactly, however long: callers bound it)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 24h or 7d")
    return int(Decimal(match.group(1)) * _UNIT_MS[match.group(2)])


DURATION_EXAMPLE = "30s, 5m, 24h or 7d"


def duration_text(ms: int) -> str:
    """`1d`, `366d`, `100ms`: a bound as a user would write it."""
    for unit, size in (("d", MS_PER_DAY), ("h", MS_PER_HOUR), ("m", MS_PER_MINUTE), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def bounded_duration_ms(value: object, maximum_ms: int, minimum_ms: int = 0) -> int:
    """The one reading of a duration an operator gives, as an option or as a config key: milliseconds between
    the bounds, or ValueError saying what is wrong in one shape (`must be ..., got '5x'`), to which the
    caller puts where in front (click the option, a config file its path and key)."""
    if not isinstance(value, str) or not _DURATION.match(value.strip()):
        raise ValueError(f"must be a duration like {DURATION_EXAMPLE}, got {value!r}")
    ms = parse_duration_ms(value)
    if ms > maximum_ms:
        raise ValueError(f"must be at most {duration_text(maximum_ms)}, got {value!r}")
    if ms < minimum_ms:
        least = "longer than 0" if minimum_ms == 1 else f"at least {duration_text(minimum_ms)}"
        raise ValueError(f"must be {least}, got {value!r}")
    return ms


def parse_time_spec(text: str, now: int) -> int:
    """A point in time: a duration back from now (`24h`, `7d`) or an RFC 3339 timestamp."""
    text = text.strip()
    if _DURATION.match(text):
        return now - parse_duration_ms(text)
    try:
        return parse_rfc3339_ms(text)
    except ValueError as exc:
        if _RFC3339.match(text):  # shaped like a timestamp: say what is wrong with it
            raise ValueError(f"{text!r} {exc}") from None
        raise ValueError(
            f"{text!r} is neither a duration back from now (24h, 7d) nor an RFC 3339 timestamp"
        ) from None
