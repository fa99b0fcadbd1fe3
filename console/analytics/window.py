"""The window a report covers and the bucket size its charts use, chosen from the window's length."""

from __future__ import annotations

from dataclasses import dataclass

from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE

# (longest window, bucket) pairs: about 100 to 300 points per series.
BUCKETS = (
    (2 * MS_PER_HOUR, MS_PER_MINUTE),
    (12 * MS_PER_HOUR, 5 * MS_PER_MINUTE),
    (2 * MS_PER_DAY, 15 * MS_PER_MINUTE),
    (8 * MS_PER_DAY, MS_PER_HOUR),
    (40 * MS_PER_DAY, 6 * MS_PER_HOUR),
)
HOURLY_BEYOND_MS = 2 * MS_PER_DAY  # longer windows read the hour rollups


@dataclass(frozen=True)
class ReportWindow:
    since_ms: int
    until_ms: int
    bucket_ms: int
    hourly: bool

    @property
    def span_ms(self) -> int:
        return self.until_ms - self.since_ms

    @property
    def incident_bucket_ms(self) -> int:
        """Incidents are found on 5-minute buckets (hourly ones for long windows)."""
        return MS_PER_HOUR if self.hourly else 5 * MS_PER_MINUTE


def choose_bucket(span_ms: int) -> int:
    for longest, bucket in BUCKETS:
        if span_ms <= longest:
            return bucket
    return MS_PER_DAY


def resolve_window(
    flt: DeliveryFilter, now_ms: int, data_start_ms: int | None, data_end_ms: int | None = None
) -> ReportWindow:
    """Fill in an open window (no --since: from the first data; no --until: now, or the end of the data when
    that is earlier, so an old store's report has no empty tail) and pick its bucket size."""
    until = (
        flt.until_ms
        if flt.until_ms is not None
        else min(now_ms, data_end_ms if data_end_ms is not None else now_ms)
    )
    since = (
        flt.since_ms
        if flt.since_ms is not None
        else (data_start_ms if data_start_ms is not None else until - MS_PER_DAY)
    )
    since = min(since, until - MS_PER_MINUTE)
    since -= since % MS_PER_MINUTE
    until += -until % MS_PER_MINUTE
    hourly = until - since > HOURLY_BEYOND_MS
    if hourly:
        since -= since % MS_PER_HOUR
        until += -until % MS_PER_HOUR
    return ReportWindow(since, until, choose_bucket(until - since), hourly)
