"""The added delays of a what-if policy's deliveries, kept in memory bounded by their distinct buckets.

A candidate's delays are its schedule's offsets, at most one per retry: counted exactly. The observed ones
(first attempt to the recorded delivery) can all differ, so they are counted in the time-to-delivery buckets
the rollups use (console.store.rollup `ttd_bucket_of`, 5% wide) with each bucket's smallest and largest value:
a percentile reads as its bucket's value (`ttd_value`) moved into that range, so it is within 2.47% of the
exact nearest-rank percentile, and exact when the bucket holds one value.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from console.domain.whatif import nearest_rank
from console.store.delivery_hists import ttd_value
from console.store.rollup import ttd_bucket_of


class ExactDelays:
    """Deliveries per delay value: a candidate's delays, one of its schedule's offsets each."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()

    def add(self, delay_ms: int, count: int) -> None:
        self.counts[delay_ms] += count

    def merge(self, other: ExactDelays) -> None:
        self.counts.update(other.counts)

    def percentile(self, q: float) -> int | None:
        """The nearest-rank percentile."""
        return nearest_rank(self.counts, q)

    def held(self) -> int:
        return len(self.counts)


@dataclass(slots=True)
class _Bucket:
    count: int
    least: int
    most: int


class DelayHistogram:
    """Deliveries per time-to-delivery bucket, with the smallest and largest delay each holds."""

    def __init__(self) -> None:
        self.buckets: dict[int, _Bucket] = {}

    def add_values(self, delays_ms: npt.NDArray[np.int64]) -> None:
        values, counts = np.unique(delays_ms, return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            self._add(ttd_bucket_of(value), _Bucket(count, value, value))

    def _add(self, bucket: int, other: _Bucket) -> None:
        mine = self.buckets.get(bucket)
        if mine is None:
            self.buckets[bucket] = _Bucket(other.count, other.least, other.most)
            return
        mine.count += other.count
        mine.least = min(mine.least, other.least)
        mine.most = max(mine.most, other.most)

    def merge(self, other: DelayHistogram) -> None:
        for bucket, counts in other.buckets.items():
            self._add(bucket, counts)

    def percentile(self, q: float) -> int | None:
        """The nearest-rank percentile's bucket, read as its value within the delays it holds."""
        bucket = nearest_rank({b: counts.count for b, counts in self.buckets.items()}, q)
        if bucket is None:
            return None
        held = self.buckets[bucket]
        return min(max(round(ttd_value(bucket)), held.least), held.most)

    def held(self) -> int:
        return len(self.buckets)
