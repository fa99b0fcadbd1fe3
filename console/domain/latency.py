"""The latency histogram: log-spaced buckets whose percentiles stay within 2.5% of the exact value.

Bucket 0 holds latencies below 0.1 ms; bucket k >= 1 holds [0.1 * R**(k-1), 0.1 * R**k) ms with R = 1.05.
Every value reads as its bucket's geometric midpoint, never further than sqrt(R) - 1 (2.47%) from any
value the bucket can hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

RATIO = 1.05
FLOOR_MS = 0.1
MAX_BUCKET = 400  # 0.1 ms * 1.05**400 is far beyond any timeout
_LOG_RATIO = math.log(RATIO)


def bucket_of(latency_ms: float) -> int:
    """The histogram bucket of a latency in milliseconds."""
    if latency_ms < FLOOR_MS:
        return 0
    return min(int(math.log(latency_ms / FLOOR_MS) / _LOG_RATIO) + 1, MAX_BUCKET)


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """The [low, high) latency range of a bucket, in ms."""
    if bucket <= 0:
        return (0.0, FLOOR_MS)
    return (FLOOR_MS * RATIO ** (bucket - 1), FLOOR_MS * RATIO**bucket)


def merge(into: dict[int, int], other: Mapping[int, int]) -> dict[int, int]:
    """Add another histogram's counts into `into` and return it."""
    for bucket, count in other.items():
        into[bucket] = into.get(bucket, 0) + count
    return into


def percentiles(
    hist: Mapping[int, int], quantiles: Iterable[float], value: Callable[[int], float] | None = None
) -> list[float | None]:
    """Percentile estimates (quantiles in 0..1) from a histogram; None for an empty one.

    Like numpy's default (linear) method, with every value standing at what its bucket reads as (`value`; the
    bucket's midpoint unless given): the two values around the fractional rank are interpolated, so the
    estimate stays within 2.47% of the exact percentile.
    """
    read = midpoint if value is None else value
    wanted = list(quantiles)
    total = sum(hist.values())
    if total <= 0:
        return [None] * len(wanted)
    ordered = sorted((b, c) for b, c in hist.items() if c > 0)

    def value_at(index: int) -> float:
        seen = 0
        for bucket, count in ordered:
            seen += count
            if index < seen:
                return read(bucket)
        return read(ordered[-1][0])

    results: list[float | None] = []
    for q in wanted:
        rank = min(max(q, 0.0), 1.0) * (total - 1)
        low_index = int(rank)
        low = value_at(low_index)
        high = value_at(min(low_index + 1, total - 1))
        results.append(low + (high - low) * (rank - low_index))
    return results


def midpoint(bucket: int) -> float:
    """The value a bucket stands for: its geometric midpoint (half the floor for bucket 0)."""
    low, high = bucket_bounds(bucket)
    return math.sqrt(low * high) if low else high / 2
