"""Pure domain values: time parsing, outcomes, the latency histogram."""

from __future__ import annotations

import random

import pytest

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
