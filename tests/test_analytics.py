"""Analytics against small hand-computed fixtures, and on the sample's incidents."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from console.analytics.build import build_report_data
from console.analytics.deliveries import (
    backlog_series,
    duplicate_deliveries,
    ordering_anomalies,
    retries_until_success,
    time_to_delivery,
)
from console.analytics.incidents import find_incidents
from console.analytics.series import ALL, failure_breakdowns, time_series
from console.analytics.window import resolve_window
from console.domain.filters import DeliveryFilter
from console.domain.latency import bucket_of
from console.domain.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.sandbox.sample import generate
from console.store import Store

M = MS_PER_MINUTE


def _rollups(rows: list[tuple[int, str, int, int, list[float]]]) -> pd.DataFrame:
    """(bucket_ms, endpoint, attempts, successes, latencies) -> a rollup frame."""
    records = []
    for bucket, endpoint, attempts, successes, latencies in rows:
        hist: dict[int, int] = {}
        for value in latencies:
            hist[bucket_of(value)] = hist.get(bucket_of(value), 0) + 1
        records.append((bucket, endpoint, "t", "scheduled", attempts, successes, attempts - successes, 0, 0, 0, 0, 0, 0,
                        len(latencies), float(sum(latencies)), hist))  # fmt: skip
    columns = ["bucket_ms", "endpoint_id", "event_type", "trigger", "attempts", "successes", "http_errors", "timeouts",
               "network_errors", "first_attempts", "first_successes", "deliveries", "delivered", "latency_count",
               "latency_sum", "hist"]  # fmt: skip
    return pd.DataFrame.from_records(records, columns=columns)


def test_time_series_counts_rates_and_percentiles() -> None:
    rollups = _rollups([
        (0, "a", 4, 3, [10, 20, 30, 40]),
        (M, "a", 2, 2, [50, 60]),
        (0, "b", 2, 0, [1000, 1000]),
        (5 * M, "a", 1, 1, [100]),
    ])  # fmt: skip
    series = time_series(rollups, 5 * M)
    first_a = series[(series["bucket_ms"] == 0) & (series["endpoint_id"] == "a")].iloc[0]
    assert (first_a["attempts"], first_a["successes"]) == (6, 5)
    assert first_a["success_rate"] == pytest.approx(5 / 6)
    assert first_a["p50"] == pytest.approx(35, rel=0.03)  # median of 10..60
    overall = series[(series["bucket_ms"] == 0) & (series["endpoint_id"] == ALL)].iloc[0]
    assert (overall["attempts"], overall["successes"]) == (8, 5)
    assert overall["p99"] == pytest.approx(1000, rel=0.03)
    assert len(series[series["bucket_ms"] == 5 * M]) == 2  # endpoint a and all


def test_incidents_merge_runs_and_ignore_noise() -> None:
    series = pd.DataFrame({
        "bucket_ms": [0, 5, 10, 15, 20, 25, 0, 5],
        "endpoint_id": ["a"] * 6 + ["b"] * 2,
        "attempts": [100, 10, 10, 1, 10, 100, 1000, 1000],
        "successes": [100, 5, 4, 1, 3, 100, 995, 989],
    })  # fmt: skip
    seen: list[tuple[str, int, int]] = []

    def affected(endpoint: str, start: int, end: int) -> int:
        seen.append((endpoint, start, end))
        return 7

    incidents = find_incidents(series, 5, 0.99, affected)
    assert len(incidents) == 2
    a = incidents[incidents["endpoint_id"] == "a"].iloc[0]
    assert (a["start_ms"], a["end_ms"], a["attempts"], a["failed_attempts"], a["events_affected"]) == (
        5,
        25,
        31,
        18,
        7,
    )
    b = incidents[incidents["endpoint_id"] == "b"].iloc[0]
    assert (b["start_ms"], b["end_ms"], b["failed_attempts"]) == (
        5,
        10,
        11,
    )  # 995/1000 is within the SLO; 989/1000 is not
    quiet = find_incidents(series.assign(successes=series["attempts"]), 5, 0.99)
    assert quiet.empty


def _deliveries(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    columns = ["event_id", "endpoint_id", "event_type", "attempts", "successes", "first_attempt_at", "delivered_at",
               "delivered_attempt", "user_id", "occurred_at"]  # fmt: skip
    return pd.DataFrame.from_records(rows, columns=columns).astype(
        {"delivered_at": "Int64", "delivered_attempt": "Int64", "occurred_at": "Int64"}
    )


DELIVERIES = _deliveries([
    ("e1", "a", "t", 1, 1, 0, 100, 1, "u1", 0),
    ("e2", "a", "t", 3, 1, 10, 5000, 3, "u1", 5),       # occurred after e1, delivered after: fine
    ("e3", "a", "t", 1, 1, 20, 200, 1, "u1", 10),       # occurred after e2, delivered before it: anomaly
    ("e4", "a", "t", 2, 0, 30, None, None, "u2", 12),   # undelivered
    ("e5", "b", "t", 2, 2, 40, 400, 1, "u1", 1),        # acknowledged twice
])  # fmt: skip


def test_delivery_figures() -> None:
    retries = retries_until_success(DELIVERIES)
    assert list(zip(retries["attempt"], retries["deliveries"], strict=True)) == [(1, 3), (3, 1)]
    times = time_to_delivery(DELIVERIES).set_index("endpoint_id")
    assert times.loc["a", "delivered"] == 3 and times.loc["a", "max_s"] == pytest.approx(4.99)
    count, anomalies = ordering_anomalies(DELIVERIES)
    assert count == 1
    row = anomalies.iloc[0]
    assert (row["event_id"], row["overtook_event_id"], row["delivered_at"], row["overtook_delivered_at"]) == (
        "e3",
        "e2",
        200,
        5000,
    )
    assert list(duplicate_deliveries(DELIVERIES)["event_id"]) == ["e5"]
    backlog = backlog_series(DELIVERIES, 0, 6000, 1000, at_start=2)
    # at 1000: e1,e3,e5 delivered (e2, e4 open) -> 2 + 2; at 6000 only e4 open -> 2 + 1
    assert list(backlog["undelivered"]) == [4, 4, 4, 4, 4, 3]


def test_failure_breakdowns() -> None:
    failures = pd.DataFrame({
        "endpoint_id": ["a", "a", "b", "b"], "status_code": [503, 404, 0, 503],
        "error_kind": ["", "", "connection_refused", ""], "count": [5, 1, 7, 2],
    })  # fmt: skip
    parts = failure_breakdowns(failures)
    classes = {(r.endpoint_id, r._2): r.attempts for r in parts["by_endpoint_class"].itertuples()}
    assert classes == {
        ("a", "5xx"): 5,
        ("a", "4xx"): 1,
        ("b", "transport: connection_refused"): 7,
        ("b", "5xx"): 2,
    }
    assert list(parts["by_status"]["status_code"]) == [503, 404]
    assert list(parts["by_error"]["attempts"]) == [7]


def test_window_resolution() -> None:
    day = parse_rfc3339_ms("2026-05-05T00:00:00Z")
    window = resolve_window(DeliveryFilter(since_ms=day + 90_123), day + MS_PER_DAY, None)
    assert (window.since_ms, window.bucket_ms, window.hourly) == (day + 60_000, 15 * M, False)
    long = resolve_window(DeliveryFilter(), day + 10 * MS_PER_DAY, day, day + 7 * MS_PER_DAY)
    assert (long.since_ms, long.until_ms, long.bucket_ms, long.hourly) == (
        day,
        day + 7 * MS_PER_DAY,
        MS_PER_HOUR,
        True,
    )


def test_sample_outage_is_found(store: Store, tmp_path: Path) -> None:
    end = parse_rfc3339_ms("2026-11-01T00:00:00Z")
    log = generate(tmp_path, events=3000, days=1, seed=7, end_ms=end).path
    ingest_sources(store, [str(log)])
    data = build_report_data(store, DeliveryFilter(since_ms=end - MS_PER_DAY, until_ms=end), end)
    giftcards = data.incidents[data.incidents["endpoint_id"] == "ep_giftcards"]
    assert len(giftcards) == 1
    outage = giftcards.iloc[0]
    assert abs(outage["start_ms"] - (end - 20 * MS_PER_HOUR)) <= 5 * M
    assert abs(outage["end_ms"] - (end - 15 * MS_PER_HOUR)) <= 10 * M
    assert outage["success_rate"] < 0.1 and outage["events_affected"] > 10
    assert data.stats.overall.undelivered > 0 and not data.top_failing.empty
    assert (
        data.top_failing.iloc[0]["endpoint_id"] == "ep_giftcards"
        and not data.top_failing.iloc[0]["delivered"]
    )
