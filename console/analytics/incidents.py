"""Incidents: stretches in which an endpoint's attempt success rate stayed below the SLO, worst first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from console.analytics.rows import tuples
from console.domain.times import MS_PER_HOUR

MIN_ATTEMPTS = 3  # a bucket with fewer attempts says too little
MIN_FAILED = 5  # a stretch with fewer failed attempts is noise under a tight SLO, not an incident
QUIET_GAP = 3  # buckets without enough traffic to judge that may sit inside one incident
COLUMNS = [
    "endpoint_id",
    "start_ms",
    "end_ms",
    "duration_s",
    "attempts",
    "failed_attempts",
    "success_rate",
    "events_affected",
    "still_undelivered",
    "impact",
]

# (endpoint, start ms, end ms) -> (events with a failed attempt in it, of those still undelivered now)
Reach = Callable[[str, int, int], tuple[int, int]]


def find_incidents(series: pd.DataFrame, bucket_ms: int, slo: float, reach: Reach) -> pd.DataFrame:
    """From a per-endpoint time series (bucket_ms, endpoint_id, attempts, successes): every run of adjacent
    buckets below the SLO holding at least MIN_FAILED failed attempts, as one incident. Up to QUIET_GAP buckets
    with too little traffic to judge (missing buckets included) do not end a run: an outage that sends few
    retries is still one outage.

    Ranked worst first by impact: events affected (events with a failed attempt in the incident, i.e. left
    undelivered for a while) x duration in hours; then by failed attempts, start and endpoint."""
    rows: list[tuple[Any, ...]] = []
    for endpoint, group in series.groupby("endpoint_id", sort=True):
        run: list[tuple[int, int, int]] = []
        quiet: list[tuple[int, int, int]] = []
        for record in tuples(group.sort_values("bucket_ms")):
            bucket, attempts, successes = int(record.bucket_ms), int(record.attempts), int(record.successes)
            if run and bucket - run[-1][0] > (QUIET_GAP + 1) * bucket_ms:
                rows.extend(_incident(str(endpoint), run, bucket_ms, reach))  # too long without traffic
                run, quiet = [], []
            if attempts >= MIN_ATTEMPTS and successes / attempts < slo:
                run.extend(quiet)
                run.append((bucket, attempts, successes))
                quiet = []
            elif attempts < MIN_ATTEMPTS and run:
                quiet.append((bucket, attempts, successes))
            else:
                rows.extend(_incident(str(endpoint), run, bucket_ms, reach))
                run, quiet = [], []
        rows.extend(_incident(str(endpoint), run, bucket_ms, reach))
    rows.sort(key=lambda r: (-float(r[9]), -int(r[5]), int(r[1]), str(r[0])))
    return pd.DataFrame.from_records(rows, columns=COLUMNS)


def _incident(
    endpoint: str, run: list[tuple[int, int, int]], bucket_ms: int, reach: Reach
) -> list[tuple[object, ...]]:
    """The incident a run of bad buckets makes, if it holds enough failures to be one."""
    if not run:
        return []
    attempts = sum(r[1] for r in run)
    successes = sum(r[2] for r in run)
    if attempts - successes < MIN_FAILED:
        return []
    start, end = run[0][0], run[-1][0] + bucket_ms
    affected, undelivered = reach(endpoint, start, end)
    impact = affected * (end - start) / MS_PER_HOUR
    return [
        (
            endpoint,
            start,
            end,
            (end - start) // 1000,
            attempts,
            attempts - successes,
            successes / attempts,
            affected,
            undelivered,
            impact,
        )
    ]
