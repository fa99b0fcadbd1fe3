"""The one format for numbers the console, the CLI, the report and alerts show (console/domain/formatting.py):
missing values, zero, negatives, NaN and the rounding boundaries where a unit changes."""

from __future__ import annotations

import math

import pytest

from console.domain import formatting as fmt

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    "share, digits, shown",
    [
        (None, 1, "-"),
        (NAN, 1, "-"),
        (INF, 1, "-"),
        (0, 1, "0.0%"),
        (1, 1, "100.0%"),
        (0.9512, 1, "95.1%"),
        (0.9512, 2, "95.12%"),
        (0.99949, 1, "99.9%"),
        (0.99951, 1, "100.0%"),
        (0.9995, 2, "99.95%"),
        (-0.05, 1, "-5.0%"),
        (0.5, 0, "50%"),
    ],
)
def test_pct(share: float | None, digits: int, shown: str) -> None:
    assert fmt.pct(share, digits) == shown


def test_pct_defaults_to_one_decimal() -> None:
    assert fmt.pct(0.12345) == "12.3%"


@pytest.mark.parametrize(
    "ms, shown",
    [
        (None, "-"),
        (NAN, "-"),
        (-INF, "-"),
        (0, "0.0 ms"),
        (0.04, "0.0 ms"),
        (0.4, "0.4 ms"),
        (8.46, "8.5 ms"),
        (9.94, "9.9 ms"),
        (9.96, "10 ms"),  # rounds to 10: whole milliseconds from there
        (10, "10 ms"),
        (162.4, "162 ms"),
        (850, "850 ms"),
        (999.4, "999 ms"),
        (999.6, "1.00 s"),  # never "1000 ms"
        (1000, "1.00 s"),
        (1204, "1.20 s"),
        (32_000, "32.00 s"),
        (-5, "-5.0 ms"),
        (-1500, "-1.50 s"),
    ],
)
def test_latency(ms: float | None, shown: str) -> None:
    assert fmt.latency(ms) == shown


@pytest.mark.parametrize(
    "ms, shown",
    [
        (0.1, "0.1 ms"),
        (1, "1 ms"),
        (10, "10 ms"),
        (100, "100 ms"),
        (1000, "1 s"),
        (10_000, "10 s"),
        (2500, "2.5 s"),
    ],
)
def test_latency_label(ms: float, shown: str) -> None:
    assert fmt.latency_label(ms) == shown


@pytest.mark.parametrize(
    "ms, shown",
    [
        (None, "-"),
        (NAN, "-"),
        (INF, "-"),
        (0, "0s"),
        (-5000, "0s"),  # a clock a little behind
        (1, "<1s"),
        (999, "<1s"),
        (1000, "1s"),
        (45_000, "45s"),
        (59_900, "59s"),  # cut, never rounded up to 60s
        (60_000, "1m"),
        (3_599_999, "59m"),
        (3_600_000, "1h 00m"),
        (2 * 3_600_000 + 5 * 60_000, "2h 05m"),
        (86_399_999, "23h 59m"),
        (86_400_000, "1d 0h"),
        (3 * 86_400_000 + 4 * 3_600_000 + 59 * 60_000, "3d 4h"),
        (400 * 86_400_000, "400d 0h"),
    ],
)
def test_duration(ms: float | None, shown: str) -> None:
    assert fmt.duration(ms) == shown


def test_age_is_the_duration_since_a_moment() -> None:
    now = 1_800_000_000_000
    assert fmt.age(now - 3 * 60_000 - 59_000, now) == "3m"
    assert fmt.age(now, now) == "0s"
    assert fmt.age(now + 2000, now) == "0s"  # a moment stamped a little ahead of this clock
    assert fmt.age(None, now) == "-"


@pytest.mark.parametrize(
    "n, shown",
    [
        (None, "-"),
        (NAN, "-"),
        (0, "0"),
        (7, "7"),
        (1234, "1,234"),
        (-1234, "-1,234"),
        (1_234_567_890_123_456_789, "1,234,567,890,123,456,789"),  # exact, not through a float
        (1234.5, "1,234"),  # a float rounds half to even
        (1234.6, "1,235"),
    ],
)
def test_count(n: float | None, shown: str) -> None:
    assert fmt.count(n) == shown


def test_counted_says_one_thing_in_the_singular() -> None:
    assert fmt.counted(1, "delivery") == "1 delivery" and fmt.counted(2, "delivery") == "2 deliveries"
    assert fmt.counted(0, "event") == "0 events" and fmt.counted(1234, "user") == "1,234 users"
    assert fmt.counted(1, "day") == "1 day" and fmt.counted(3, "day") == "3 days"  # a vowel before the y
    assert fmt.counted(2, "stuck delivery", "stuck deliveries") == "2 stuck deliveries"


@pytest.mark.parametrize(
    "per_second, shown",
    [
        (None, "-"),
        (NAN, "-"),
        (0, "0.00"),
        (0.25, "0.25"),
        (9.994, "9.99"),
        (9.996, "10.0"),  # rounds to 10: one decimal from there
        (12.34, "12.3"),
        (99.94, "99.9"),
        (99.96, "100"),  # rounds to 100: whole numbers from there
        (1234.5, "1,234"),
        (250_000, "250,000"),
        (-3.5, "-3.50"),
    ],
)
def test_rate(per_second: float | None, shown: str) -> None:
    assert fmt.rate(per_second) == shown


@pytest.mark.parametrize(
    "n_bytes, shown",
    [
        (0, "0 B"),
        (812, "812 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (64 * 1024, "64.0 KiB"),
        (1024 * 1024 - 1, "1.0 MiB"),  # 1023.999 KiB rounds to 1024.0: the next unit
        (50 * 1024 * 1024, "50.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (5000 * 1024**3, "5000.0 GiB"),
    ],
)
def test_data_size(n_bytes: int, shown: str) -> None:
    assert fmt.data_size(n_bytes) == shown
