"""Analytics against small hand-computed fixtures (the delivery figures on a real store, SQLite and PostgreSQL),
and on the sample's incidents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from console.analytics.build import build_report_data
from console.analytics.deliveries import (
    backlog_series,
    duplicate_deliveries,
    ordering_anomalies,
    retries_until_success,
    time_to_delivery,
    top_failing_events,
)
from console.analytics.incidents import find_incidents
from console.analytics.series import ALL, RollupSums, failure_breakdowns
from console.analytics.window import resolve_window
from console.domain.filters import DeliveryFilter
from console.domain.latency import bucket_of
from console.domain.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, format_ms, parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.sandbox.sample import generate
from console.store import Store, aggregates
from tests.helpers import log_line, write_jsonl

M = MS_PER_MINUTE


def _rollup(
    bucket: int, endpoint: str, attempts: int, successes: int, latencies: list[float]
) -> tuple[Any, ...]:
    """A rollup row as the store streams it: (bucket_ms, endpoint, counters..., latency count, histogram)."""
    hist: dict[str, int] = {}
    for value in latencies:
        hist[str(bucket_of(value))] = hist.get(str(bucket_of(value)), 0) + 1
    return (
        bucket,
        endpoint,
        attempts,
        successes,
        attempts - successes,
        0,
        0,
        len(latencies),
        str(hist).replace("'", '"'),
    )


def test_time_series_counts_rates_and_percentiles() -> None:
    rows = [
        _rollup(0, "a", 4, 3, [10, 20, 30, 40]),
        _rollup(M, "a", 2, 2, [50, 60]),
        _rollup(0, "b", 2, 0, [1000, 1000]),
        _rollup(5 * M, "a", 1, 1, [100]),
    ]
    sums = RollupSums(5 * M, M).add_all(rows)
    series = sums.series()
    first_a = series[(series["bucket_ms"] == 0) & (series["endpoint_id"] == "a")].iloc[0]
    assert (first_a["attempts"], first_a["successes"]) == (6, 5)
    assert first_a["success_rate"] == pytest.approx(5 / 6)
    assert first_a["p50"] == pytest.approx(35, rel=0.03)  # median of 10..60
    overall = series[(series["bucket_ms"] == 0) & (series["endpoint_id"] == ALL)].iloc[0]
    assert (overall["attempts"], overall["successes"]) == (8, 5)
    assert overall["p99"] == pytest.approx(1000, rel=0.03)
    assert len(series[series["bucket_ms"] == 5 * M]) == 2  # endpoint a and all
    incident = sums.incident_series()  # one-minute buckets: the two minutes of endpoint a stay apart
    assert list(incident[incident["endpoint_id"] == "a"]["attempts"]) == [4, 2, 1]
    latency = sums.latency().groupby("endpoint_id")["attempts"].sum()
    assert (latency["a"], latency["b"]) == (7, 2)


def test_incidents_merge_runs_rank_worst_first_and_ignore_noise() -> None:
    series = pd.DataFrame(
        {
            "bucket_ms": [0, 5, 10, 15, 20, 25, 0, 5, 10, 15],
            "endpoint_id": ["a"] * 6 + ["b"] * 4,
            "attempts": [100, 10, 10, 1, 10, 100, 1000, 1000, 1000, 1000],
            "successes": [100, 5, 4, 1, 3, 100, 995, 989, 0, 998],
        }
    )
    seen: list[tuple[str, int, int]] = []

    def reach(endpoint: str, start: int, end: int) -> tuple[int, int]:
        seen.append((endpoint, start, end))
        return (7, 2) if endpoint == "a" else (400, 30)

    incidents = find_incidents(series, 5, 0.99, reach, now_ms=1000)
    assert len(incidents) == 2 and sorted(seen) == [("a", 5, 25), ("b", 5, 15)]
    # b: two adjacent bad buckets (989/1000, then a total outage) are one incident, and the most harmful: 30
    # events still undelivered outrank 2.
    worst, second = incidents.iloc[0], incidents.iloc[1]
    assert (worst["endpoint_id"], worst["start_ms"], worst["end_ms"], worst["failed_attempts"]) == (
        "b",
        5,
        15,
        1011,
    )
    assert (worst["events_affected"], worst["still_undelivered"]) == (400, 30)
    assert not worst["ongoing"] and not second["ongoing"]  # each was followed by a healthy bucket
    assert (second["endpoint_id"], second["start_ms"], second["end_ms"], second["attempts"]) == (
        "a",
        5,
        25,
        31,
    )
    assert second["failed_attempts"] == 18  # the quiet bucket at 15 stays inside; 995/1000 is within the SLO
    assert find_incidents(series.assign(successes=series["attempts"]), 5, 0.99, reach, now_ms=1000).empty


T0 = parse_rfc3339_ms("2026-05-05T10:00:00Z")


def _at(offset_ms: int) -> str:
    return format_ms(T0 + offset_ms)


def _line(
    event: str, endpoint: str, attempt: int, offset_ms: int, ok: bool, user: str, occurred_ms: int
) -> dict[str, Any]:
    payload = {"event": "reward.redeemed", "event_id": event, "user_id": user, "timestamp": _at(occurred_ms)}
    return log_line(
        event,
        endpoint,
        attempt,
        attempted_at=_at(offset_ms),
        status_code=200 if ok else 503,
        **({"payload": payload} if attempt == 1 else {}),
    )


# The window is [T0, T0 + 1h) in 10-minute buckets. Offsets in ms from T0.
DELIVERY_LINES = [
    _line("e1", "a", 1, 0, True, "u1", -10 * M),
    _line("e2", "a", 1, 10_000, False, "u1", -5 * M),  # occurred after e1, delivered after it: fine
    _line("e2", "a", 2, 20_000, False, "u1", -5 * M),
    _line("e2", "a", 3, 50 * M, True, "u1", -5 * M),
    _line("e3", "a", 1, 200_000, True, "u1", -1 * M),  # occurred after e2, delivered before it: overtook e2
    _line("e4", "a", 1, 30_000, False, "u2", 0),  # undelivered
    _line("e4", "a", 2, 60_000, False, "u2", 0),
    _line("e5", "b", 1, 40_000, True, "u1", 1000),  # acknowledged twice
    _line("e5", "b", 2, 400_000, True, "u1", 1000),
    _line("e0", "a", 1, -30 * M, False, "u3", -30 * M),  # before the window, delivered in it
    _line("e0", "a", 2, 15 * M, True, "u3", -30 * M),
    _line("e9", "a", 1, -40 * M, False, "u3", -40 * M),  # before the window, never delivered
    _line("e8", "a", 1, -50 * M, False, "u3", -50 * M),  # before the window, delivered before it
    _line("e8", "a", 2, -20 * M, True, "u3", -50 * M),
]


def test_delivery_figures_from_the_database(store: Store, tmp_path: Path) -> None:
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", DELIVERY_LINES))])
    flt = DeliveryFilter(since_ms=T0, until_ms=T0 + 60 * M)
    retries = retries_until_success(store, flt)
    assert list(zip(retries["attempt"], retries["deliveries"], strict=True)) == [(1, 3), (3, 1)]
    times = time_to_delivery(store, flt).set_index("endpoint_id")
    # from the rollups' histograms: within their resolution (2.47%), 0 exact
    assert times.loc["a", "delivered"] == 3 and times.loc["a", "max_s"] == pytest.approx(2990, rel=0.0247)
    assert times.loc["a", "p50_s"] == 0 and times.loc["a", "p95_s"] == pytest.approx(
        2990 * 0.9, rel=0.0247
    )  # linear, as numpy
    count, anomalies = ordering_anomalies(store, flt)
    assert count == 1
    row = anomalies.iloc[0]
    assert (row["event_id"], row["overtook_event_id"], row["delivered_at"], row["overtook_delivered_at"]) == (
        "e3",
        "e2",
        T0 + 200_000,
        T0 + 50 * M,
    )
    count, duplicates = duplicate_deliveries(store, flt)
    assert count == 1 and list(duplicates["event_id"]) == ["e5"]
    top = top_failing_events(store, flt)
    assert list(top["event_id"]) == ["e4", "e2"] and list(top["failed"]) == [2, 2]  # undelivered first
    counts = aggregates.backlog_counts(store, flt, T0, T0 + 60 * M, 10 * M)
    assert counts.at_start == 2  # e0 and e9 were open when the window began
    backlog = backlog_series(counts, T0, T0 + 60 * M, 10 * M)
    # end of bucket 0: e0, e9, e2, e4 open; e0 delivered at 15 min; e2 at 50 min
    assert list(backlog["undelivered"]) == [4, 3, 3, 3, 3, 2]
    reach = aggregates.incident_reach(store, "a", T0, T0 + 60 * M)
    assert (reach.events_affected, reach.still_undelivered) == (2, 1)  # e2 (delivered later) and e4


def test_failure_breakdowns() -> None:
    failures = pd.DataFrame(
        {
            "endpoint_id": ["a", "a", "b", "b"],
            "status_code": [503, 404, 0, 503],
            "error_kind": ["", "", "connection_refused", ""],
            "count": [5, 1, 7, 2],
        }
    )
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
    assert outage["success_rate"] < 0.1 and outage["events_affected"] > 10 and outage["still_undelivered"] > 0
    assert data.incidents.iloc[0]["endpoint_id"] == "ep_giftcards"  # the worst incident comes first
    rows = data.incidents.to_dict("records")
    harm = [(-r["still_undelivered"], r["success_rate"], -r["events_affected"]) for r in rows]
    assert harm == sorted(
        harm
    )  # most still undelivered first, then the lowest success, then the widest reach
    assert data.stats.overall.undelivered > 0 and not data.top_failing.empty
    assert (
        data.top_failing.iloc[0]["endpoint_id"] == "ep_giftcards"
        and not data.top_failing.iloc[0]["delivered"]
    )
