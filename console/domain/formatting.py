"""Numbers for people: one format for shares, latencies, durations, counts, rates and sizes, used alike by
the console, the CLI, the report and alert notifications. JSON and CSV carry the raw numbers, never these.

The conventions, and why:
- Every time is given in milliseconds, as the store keeps it.
- A missing value (None, NaN, infinity) is `-`, as the console shows every missing field.
- Shares are percentages with a fixed number of decimals: `99.9%` (the console and the CLI use 1; the
  report, where SLOs like 99.95% need telling apart, uses 2).
- Latencies have a space before the unit and switch unit after rounding: `8.5 ms` below 10 ms, `850 ms`
  below a second, `1.20 s` above (so 999.6 ms is `1.00 s`, never `1000 ms`).
- Durations and ages are compact, in the units `--since 24h` and alerts.toml take, whole units only, cut
  (never rounded) down: `<1s`, `45s`, `12m`, `3h 05m`, `2d 4h`. A negative one (a clock a little behind)
  is `0s`. This is the form the console, the CLI and the report already showed most.
- Counts have thousands separators: `1,234`; rates per second keep three figures (`0.25`, `12.3`) or are
  whole counts from 100 up (`1,234`).
"""

from __future__ import annotations

import math

MISSING = "-"


def _number(value: float | None) -> float | None:
    """The value as a float, or None when there is nothing to show (None, NaN, infinity)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def pct(share: float | None, digits: int = 1) -> str:
    """A share of 1 as a percentage: `pct(0.9512)` is `95.1%`, `pct(0.9512, 2)` is `95.12%`."""
    value = _number(share)
    return MISSING if value is None else f"{value * 100:.{digits}f}%"


def _latency_parts(ms: float, round_to: int) -> tuple[float, str]:
    """The unit a latency reads in: seconds once it rounds to 1000 ms or more."""
    return (ms / 1000, "s") if abs(round(ms, round_to)) >= 1000 else (ms, "ms")


def latency(ms: float | None) -> str:
    """A latency, or any measured time, given in ms: `0.4 ms`, `8.5 ms`, `850 ms`, `1.20 s`, `32.00 s`."""
    value = _number(ms)
    if value is None:
        return MISSING
    if abs(round(value, 1)) < 10:
        return f"{value:.1f} ms"
    amount, unit = _latency_parts(value, 0)
    return f"{amount:.0f} ms" if unit == "ms" else f"{amount:.2f} s"


def latency_label(ms: float) -> str:
    """A round latency, as on a chart axis: `0.1 ms`, `10 ms`, `1 s`, `10 s` (no trailing zeros)."""
    amount, unit = _latency_parts(ms, 9)
    return f"{amount:g} {unit}"


def duration(ms: float | None) -> str:
    """A length of time given in ms: `<1s`, `45s`, `12m`, `3h 05m`, `2d 4h` (whole units, cut down; a negative
    one is `0s`)."""
    value = _number(ms)
    if value is None:
        return MISSING
    if 0 < value < 1000:
        return "<1s"
    whole = int(max(value, 0) // 1000)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def age(since_ms: int | None, now_ms: int) -> str:
    """How long ago a moment (epoch ms) was, as a `duration`; `-` for None."""
    return MISSING if since_ms is None else duration(now_ms - since_ms)


def count(n: float | None) -> str:
    """A count with thousands separators: `1,234` (a fractional one rounds to the nearest whole)."""
    if isinstance(n, int):
        return f"{n:,}"
    value = _number(n)
    return MISSING if value is None else f"{round(value):,}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """A count and its noun, singular for one: `1 delivery`, `2 deliveries`, `1,234 events` (`plural` when the
    noun's is irregular)."""
    if n == 1:
        return f"1 {noun}"
    if plural is None:
        plural = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    return f"{count(n)} {plural}"


def rate(per_second: float | None) -> str:
    """Something per second, to three figures or whole: `0.25`, `12.3`, `1,234`. The caller names the unit."""
    value = _number(per_second)
    if value is None:
        return MISSING
    if abs(round(value, 1)) >= 100:
        return count(value)
    return f"{value:.1f}" if abs(round(value, 2)) >= 10 else f"{value:.2f}"


def data_size(n_bytes: int) -> str:
    """A byte count: `812 B`, `64.0 KiB`, `50.0 MiB`, `2.0 GiB`."""
    if abs(n_bytes) < 1024:
        return f"{n_bytes} B"
    value = float(n_bytes)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if abs(round(value, 1)) < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"
