"""Pure domain values: time parsing, outcomes, the latency histogram."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from console.domain import times
from console.domain.latency import bucket_bounds, bucket_of, percentiles
from console.domain.outcomes import ErrorKind, Outcome, classify_outcome, error_kind_of
from console.domain.times import format_ms, parse_duration_ms, parse_rfc3339_ms, parse_time_spec


def test_rfc3339_round_trip_and_offsets() -> None:
    assert parse_rfc3339_ms("1970-01-01T00:00:01Z") == 1000
    assert parse_rfc3339_ms("2026-05-05T15:30:00+05:30") == parse_rfc3339_ms("2026-05-05T10:00:00Z")
    assert parse_rfc3339_ms("2026-05-05T10:00:00.123456789Z") % 1000 == 123
    assert format_ms(parse_rfc3339_ms("2026-05-05T10:00:00.250Z")) == "2026-05-05T10:00:00.250Z"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("2026-13-05T10:00:00Z", "month must be in 1..12"),
        ("2026-02-30T10:00:00Z", "day is out of range"),
        ("2026-05-05T10:00:00", "with an offset"),
        ("2026-05-05", "RFC 3339"),
        ("yesterday", "RFC 3339"),
        ("0001-01-01T00:00:00Z", "outside the supported range"),
        ("1969-12-31T23:59:59.999Z", "outside the supported range"),
        ("1970-01-01T00:30:00+01:00", "outside the supported range"),
        ("2100-01-01T00:00:00Z", "outside the supported range"),
        ("9999-12-31T23:59:59+00:00", "outside the supported range"),
    ],
)
def test_rfc3339_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_rfc3339_ms(text)


def _ms(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> int:
    return int(datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC).timestamp() * 1000)


def _outcome(text: str) -> int | str:
    try:
        return parse_rfc3339_ms(text)
    except ValueError as exc:
        return f"ValueError: {exc}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-10-25T00:00:04.390Z", _ms(2026, 10, 25, 0, 0, 4, 390_000)),
        ("2026-10-25T00:00:00.000Z", _ms(2026, 10, 25)),
        ("2026-10-25T00:59:59.999Z", _ms(2026, 10, 25, 0, 59, 59, 999_000)),
        ("2026-10-25t00:00:04.390z", _ms(2026, 10, 25, 0, 0, 4, 390_000)),
        ("2026-10-25 00:00:04.390Z", _ms(2026, 10, 25, 0, 0, 4, 390_000)),
        ("2026-10-25T00:00:04.390+00:00", _ms(2026, 10, 25, 0, 0, 4, 390_000)),
        ("2026-10-25T05:30:04.390+05:30", _ms(2026, 10, 25, 0, 0, 4, 390_000)),
        ("2026-10-25T00:00:04Z", _ms(2026, 10, 25, 0, 0, 4)),
        ("2026-10-25T00:00:04.3Z", _ms(2026, 10, 25, 0, 0, 4, 300_000)),
        ("2026-10-25T00:00:04.39Z", _ms(2026, 10, 25, 0, 0, 4, 390_000)),
        ("2026-10-25T00:00:04.3909Z", _ms(2026, 10, 25, 0, 0, 4, 390_000)),
        ("2026-10-25T00:00:04.123456789Z", _ms(2026, 10, 25, 0, 0, 4, 123_000)),
        ("2028-02-29T23:59:59.999Z", _ms(2028, 2, 29, 23, 59, 59, 999_000)),
        ("2099-12-31T23:59:59.999Z", _ms(2099, 12, 31, 23, 59, 59, 999_000)),
        ("1970-01-01T00:00:00.000Z", 0),
    ],
)
def test_rfc3339_values_alike_with_and_without_cached_minute(
    text: str, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(times, "_MINUTE_MS", {})
    monkeypatch.setattr(times, "_HOUR_CACHE", {})
    assert parse_rfc3339_ms(text) == expected  # nothing cached
    parse_rfc3339_ms(text[:10] + "T" + text[11:17] + "00.000Z")  # the minute learnt
    assert times._MINUTE_MS
    assert parse_rfc3339_ms(text) == expected


ODD_STAMPS = [
    "2026-10-25T00:00:60.000Z",  # a leap second
    "2026-10-25T00:00:60Z",
    "2026-10-25T00:60:00.000Z",
    "2026-10-25T24:00:00.000Z",
    "2026-02-29T00:00:00.000Z",
    "2026-02-30T00:00:00.000Z",
    "2026-13-01T00:00:00.000Z",
    "2100-01-01T00:00:00.000Z",
    "1969-12-31T23:59:59.999Z",
    "2026-10-25T00:00:04.39aZ",
    "2026-10-25T00:00:0a.390Z",
    "2026-10-25T00:00:04,390Z",
    "2026-10-25T00:00:04.390",
    "2026-10-25T00:00:04.390ZZ",
    "2026-10-25T00:00:04.390Z ",
    "2026-10-25T00:00:04.1234567890Z",
    "2026-10-25T00:00:-4.390Z",
    "2026-10-25T00:00: 4.390Z",
    "2026-10-25T00:00:4_.390Z",
    "2026-10-25T00:00:04.-90Z",
    "2026-10-25T00:00:04.390\u212a",
    "2026-10-25T00:00:0\u00b2.390Z",  # a superscript two: isdigit() but no decimal digit
    "2026-10-25T00:00:0\u0664.390Z",  # an Arabic-Indic four
    "2026-10-25T00:00:04.39\uff10Z",  # a full-width zero
    "\uff12026-10-25T00:00:04.390Z",
]


@pytest.mark.parametrize("text", ODD_STAMPS)
def test_odd_rfc3339_shapes_decided_alike_with_and_without_cached_minute(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact shape's look-ups take nothing the full parse would refuse, nor change what it says."""
    monkeypatch.setattr(times, "_MINUTE_MS", {})
    monkeypatch.setattr(times, "_HOUR_CACHE", {})
    cold = _outcome(text)
    parse_rfc3339_ms("2026-10-25T00:00:00.000Z")
    if text[:4].isdigit() and text[10] == "T":
        _outcome(text[:17] + "00.000Z")
    assert _outcome(text) == cold
    assert _outcome(text) == cold


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("2026-10-25T00:00:60.000Z", "second must be in 0..59"),
        ("2026-10-25T24:00:00.000Z", "hour must be in 0..23"),
        ("2026-10-25T00:60:00.000Z", "minute must be in 0..59"),
        ("2026-02-30T00:00:00.000Z", "day is out of range"),
        ("2100-01-01T00:00:00.000Z", "outside the supported range"),
        ("2026-10-25T00:00:0a.390Z", "RFC 3339"),
        ("2026-10-25T00:00:04.39aZ", "RFC 3339"),
        ("2026-10-25T00:00:04,390Z", "RFC 3339"),
    ],
)
def test_exact_shape_rejects_after_its_minute_is_cached(text: str, fragment: str) -> None:
    parse_rfc3339_ms("2026-10-25T00:00:00.000Z")
    with pytest.raises(ValueError, match=fragment):
        parse_rfc3339_ms(text)


def test_range_edges_accepted_and_always_four_digit_years() -> None:
    assert parse_rfc3339_ms("1970-01-01T00:00:00Z") == 0
    last = parse_rfc3339_ms("2099-12-31T23:59:59.999Z")
    assert format_ms(last) == "2099-12-31T23:59:59.999Z"
    assert format_ms(0) == "1970-01-01T00:00:00.000Z"
    # Values from before the range (stored by an older version) still print as RFC 3339, four-digit year.
    assert format_ms(-62_135_596_800_000) == "0001-01-01T00:00:00.000Z"
    assert format_ms(-1) == "1969-12-31T23:59:59.999Z"


def test_durations_and_time_specs() -> None:
    assert parse_duration_ms("90d") == 90 * 86_400_000
    assert parse_duration_ms("250ms") == 250
    assert parse_time_spec("24h", now=100 * 3_600_000) == 76 * 3_600_000
    assert parse_time_spec("2026-05-05T10:00:00Z", now=0) == parse_rfc3339_ms("2026-05-05T10:00:00Z")
    with pytest.raises(ValueError, match=r"'1960-01-01T00:00:00Z' is outside the supported range \(1970"):
        parse_time_spec("1960-01-01T00:00:00Z", now=0)
    with pytest.raises(ValueError, match="neither a duration"):
        parse_time_spec("soon", now=0)


@pytest.mark.parametrize(
    "status, error, outcome",
    [
        (200, None, Outcome.SUCCESS),
        (204, None, Outcome.SUCCESS),
        (301, None, Outcome.HTTP_ERROR),
        (429, None, Outcome.HTTP_ERROR),
        (503, None, Outcome.HTTP_ERROR),
        (None, "timeout: no response within 10s", Outcome.TIMEOUT),
        (None, "connection refused", Outcome.NETWORK_ERROR),
        (None, None, Outcome.NETWORK_ERROR),
    ],
)
def test_outcome_classification(status: int | None, error: str | None, outcome: Outcome) -> None:
    assert classify_outcome(status, error) is outcome


def test_error_kinds() -> None:
    assert error_kind_of("[Errno 111] Connection refused") is ErrorKind.CONNECTION_REFUSED
    assert error_kind_of("Read timed out") is ErrorKind.TIMEOUT
    assert error_kind_of("SSL: CERTIFICATE_VERIFY_FAILED") is ErrorKind.TLS
    assert error_kind_of("something odd") is ErrorKind.OTHER
    assert error_kind_of(None) is ErrorKind.NONE


def test_buckets_cover_their_values() -> None:
    for value in (0.0, 0.05, 0.1, 1.0, 99.9, 100.0, 12345.6, 600_000.0):
        low, high = bucket_bounds(bucket_of(value))
        assert low <= value < high or value >= high  # the top bucket is open-ended


@pytest.mark.parametrize("shape", ["lognormal", "uniform", "bimodal"])
def test_percentiles_within_three_percent(shape: str) -> None:
    rng = random.Random(shape)
    if shape == "lognormal":
        values = [rng.lognormvariate(4.5, 0.9) for _ in range(20_000)]
    elif shape == "uniform":
        values = [rng.uniform(5, 900) for _ in range(20_000)]
    else:
        values = [rng.gauss(40, 4) if rng.random() < 0.7 else rng.gauss(2000, 200) for _ in range(20_000)]
    values = [max(v, 0.2) for v in values]
    hist: dict[int, int] = {}
    for v in values:
        hist[bucket_of(v)] = hist.get(bucket_of(v), 0) + 1
    ordered = sorted(values)
    for q, estimate in zip((0.5, 0.95, 0.99), percentiles(hist, (0.5, 0.95, 0.99)), strict=True):
        rank = q * (len(ordered) - 1)
        lo = ordered[int(rank)]
        hi = ordered[min(int(rank) + 1, len(ordered) - 1)]
        exact = lo + (hi - lo) * (rank - int(rank))
        assert estimate is not None
        assert abs(estimate - exact) / exact <= 0.03, (q, estimate, exact)


def test_percentiles_of_empty_histogram() -> None:
    assert percentiles({}, (0.5,)) == [None]
