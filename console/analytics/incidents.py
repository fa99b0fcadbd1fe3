"""Incidents: stretches in which an endpoint's attempt success rate stayed below the SLO, worst first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pandas as pd

from console.analytics.rows import tuples

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
    "ongoing",
]

# (endpoint, start ms, end ms) -> (events with a failed attempt in it, of those still undelivered now)
Reach = Callable[[str, int, int], tuple[int, int]]


class Bucket(NamedTuple):
    """One bucket of an endpoint's series, as a run holds it."""

    start_ms: int
    attempts: int
    successes: int


Run = list[Bucket]  # the buckets of a run, oldest first


def find_incidents(
    series: pd.DataFrame, bucket_ms: int, slo: float, reach: Reach, now_ms: int, live: bool = True
) -> pd.DataFrame:
    """From a per-endpoint time series (bucket_ms, endpoint_id, attempts, successes): every run of adjacent
    buckets below the SLO holding at least MIN_FAILED failed attempts, as one incident. Up to QUIET_GAP buckets
    with too little traffic to judge (missing buckets included) do not end a run: an outage that sends few
    retries is still one outage.

    An incident ends at its last bucket's end, or at `now_ms` when that is earlier. It is *ongoing* when the
    window reaches now (`live`), no bucket judged the endpoint healthy after it, and its last bad bucket is
    within QUIET_GAP buckets of the newest bucket of the series: the log's newest data still shows it failing.

    Ranked by harm: events still undelivered, then the share of attempts that failed, then events affected;
    then start and endpoint."""
    rows: list[tuple[Any, ...]] = []
    newest = int(series["bucket_ms"].max()) if not series.empty else 0

    def close(endpoint: str, run: Run, healthy_after: bool) -> None:
        ongoing = (
            live and not healthy_after and bool(run) and run[-1].start_ms >= newest - QUIET_GAP * bucket_ms
        )
        rows.extend(_incident(endpoint, run, bucket_ms, reach, now_ms, ongoing))

    for endpoint, group in series.groupby("endpoint_id", sort=True):
        run: Run = []
        quiet: Run = []
        for record in tuples(group.sort_values("bucket_ms")):
            bucket, attempts, successes = int(record.bucket_ms), int(record.attempts), int(record.successes)
            if run and bucket - run[-1].start_ms > (QUIET_GAP + 1) * bucket_ms:
                close(str(endpoint), run, True)  # too long without traffic
                run, quiet = [], []
            if attempts >= MIN_ATTEMPTS and successes / attempts < slo:
                run.extend(quiet)
                run.append(Bucket(bucket, attempts, successes))
                quiet = []
            elif attempts < MIN_ATTEMPTS and run:
                quiet.append(Bucket(bucket, attempts, successes))
            else:
                close(str(endpoint), run, True)
                run, quiet = [], []
        close(str(endpoint), run, False)
    rows.sort(key=_harm)
    return pd.DataFrame.from_records(rows, columns=COLUMNS).astype({"ongoing": bool})


def _harm(row: tuple[Any, ...]) -> tuple[int, float, int, int, str]:
    """An incident row's rank (COLUMNS order), most harmful first (find_incidents says how)."""
    endpoint, start, _end, _duration, _attempts, _failed, rate, affected, undelivered, _ongoing = row
    return -int(undelivered), float(rate), -int(affected), int(start), str(endpoint)


def _incident(
    endpoint: str, run: Run, bucket_ms: int, reach: Reach, now_ms: int, ongoing: bool
) -> list[tuple[object, ...]]:
    """The incident a run of bad buckets makes, if it holds enough failures to be one."""
    if not run:
        return []
    attempts = sum(b.attempts for b in run)
    successes = sum(b.successes for b in run)
    if attempts - successes < MIN_FAILED:
        return []
    start, last_end = run[0].start_ms, run[-1].start_ms + bucket_ms
    end = max(start, min(last_end, now_ms))  # never in the future
    affected, undelivered = reach(endpoint, start, last_end)
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
            ongoing,
        )
    ]
