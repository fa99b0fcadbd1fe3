"""Stats figures against a hand-computed fixture, window edges across hour and minute rollups, and the CLI."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from console.domain.filters import DeliveryFilter
from console.domain.times import MS_PER_MINUTE, parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.stats import read_stats
from console.store.windows import spans_for
from tests.helpers import log_line, run, write_jsonl


def T(clock: str) -> str:
    return f"2026-05-05T{clock}Z"


FIXTURE = [
    log_line("evt_1", "ep_a", 1, attempted_at=T("10:00:00"), status_code=500, latency_ms=100),
    log_line("evt_1", "ep_b", 1, attempted_at=T("10:00:10"), status_code=200, latency_ms=80),
    log_line("evt_2", "ep_a", 1, attempted_at=T("10:01:00"), status_code=200, latency_ms=200),
    log_line(
        "evt_3",
        "ep_a",
        1,
        attempted_at=T("10:02:00"),
        status_code=None,
        latency_ms=10000,
        error="timeout: read",
    ),
    log_line("evt_1", "ep_a", 2, attempted_at=T("10:05:00"), status_code=200, latency_ms=50),
    log_line(
        "evt_3",
        "ep_a",
        2,
        attempted_at=T("10:30:00"),
        status_code=None,
        latency_ms=None,
        error="connection refused",
    ),
]


@pytest.fixture
def fixture_store(store: Store, tmp_path: Path) -> Store:
    ingest_sources(store, [str(write_jsonl(tmp_path / "f.jsonl", FIXTURE))])
    return store


def test_all_time_figures(fixture_store: Store) -> None:
    snap = read_stats(fixture_store, DeliveryFilter())
    k = snap.overall
    assert (k.attempts, k.successes, k.http_errors, k.timeouts, k.network_errors) == (6, 3, 1, 1, 1)
    assert (k.first_attempts, k.first_attempt_successes, k.first_attempt_success_rate) == (4, 2, 0.5)
    assert (k.deliveries, k.delivered, k.undelivered, k.final_success_rate) == (4, 3, 1, 0.75)
    assert k.oldest_undelivered_ms == parse_rfc3339_ms(T("10:02:00"))
    assert k.latency.count == 5
    assert k.latency.p50 == pytest.approx(100, rel=0.03)
    assert k.latency.p99 == pytest.approx(9608, rel=0.03)  # numpy's linear rank 3.96 between 200 and 10000
    a = {e.endpoint_id: e for e in snap.endpoints}["ep_a"]
    assert (a.kpis.attempts, a.kpis.deliveries, a.kpis.delivered) == (5, 3, 2)
    assert [(c.label, c.count) for c in a.top_status_codes] == [("500", 1)]
    assert [(c.label, c.count) for c in a.top_errors] == [("connection_refused", 1), ("timeout", 1)]
    assert a.last_failure_ms == parse_rfc3339_ms(T("10:30:00"))
    b = {e.endpoint_id: e for e in snap.endpoints}["ep_b"]
    assert (b.kpis.attempts, b.kpis.final_success_rate, b.kpis.oldest_undelivered_ms) == (1, 1.0, None)


def test_window_counts_attempts_in_it_and_deliveries_first_tried_in_it(fixture_store: Store) -> None:
    k = read_stats(fixture_store, DeliveryFilter(since_ms=parse_rfc3339_ms(T("10:03:00")))).overall
    assert (k.attempts, k.successes, k.first_attempts) == (2, 1, 0)
    assert (k.deliveries, k.undelivered) == (0, 0)
    k = read_stats(fixture_store, DeliveryFilter(until_ms=parse_rfc3339_ms(T("10:01:30")))).overall
    assert (k.attempts, k.deliveries, k.delivered) == (
        3,
        3,
        3,
    )  # evt_1 at ep_a counts as delivered: it is, by now


def test_endpoint_and_event_type_filters(fixture_store: Store) -> None:
    snap = read_stats(fixture_store, DeliveryFilter(endpoint_ids=("ep_b",)))
    assert snap.overall.attempts == 1 and [e.endpoint_id for e in snap.endpoints] == ["ep_b"]
    assert read_stats(fixture_store, DeliveryFilter(event_types=("reward.reversed",))).overall.attempts == 0


def test_empty_store(store: Store) -> None:
    snap = read_stats(store, DeliveryFilter())
    assert (
        snap.overall.attempts == 0
        and snap.overall.first_attempt_success_rate is None
        and snap.endpoints == ()
    )


def test_spans_cover_window_exactly() -> None:
    hour = 60
    spans = spans_for(90 * MS_PER_MINUTE, (3 * hour + 10) * MS_PER_MINUTE)
    assert [(s.table, s.start, s.end) for s in spans] == [
        ("rollup_minute", 90, 120),
        ("rollup_hour", 2, 3),
        ("rollup_minute", 180, 190),
    ]
    assert [(s.table, s.start, s.end) for s in spans_for(5 * MS_PER_MINUTE, 20 * MS_PER_MINUTE + 1)] == [
        ("rollup_minute", 5, 21),
    ]


def test_random_windows_match_a_direct_count(store: Store, tmp_path: Path) -> None:
    rng = random.Random(3)
    base = parse_rfc3339_ms(T("00:00:00"))
    lines = []
    for i in range(300):
        at = base + rng.randrange(0, 30 * 3_600_000)
        stamp = f"{__import__('console.domain.times', fromlist=['format_ms']).format_ms(at)}"
        lines.append(
            log_line(f"evt_{i}", "ep_a", 1, attempted_at=stamp, status_code=rng.choice([200, 200, 503]))
        )
    ingest_sources(store, [str(write_jsonl(tmp_path / "r.jsonl", lines))])
    times = sorted(parse_rfc3339_ms(line["attempted_at"]) for line in lines)
    for _ in range(25):
        since = base + rng.randrange(0, 30 * 3_600_000)
        until = since + rng.randrange(1, 12 * 3_600_000)
        lo, hi = since // MS_PER_MINUTE * MS_PER_MINUTE, -(-until // MS_PER_MINUTE) * MS_PER_MINUTE
        expected = sum(1 for t in times if lo <= t < hi)
        assert read_stats(store, DeliveryFilter(since_ms=since, until_ms=until)).overall.attempts == expected


def test_stats_json_keys(fixture_store: Store) -> None:
    result = run("--db", fixture_store.url, "stats", "--json")
    assert result.exit_code == 0, result.stderr
    data = orjson.loads(result.stdout)
    for key in (
        "attempts",
        "deliveries",
        "undelivered",
        "first_attempt_success_rate",
        "final_success_rate",
        "latency_ms",
        "endpoints",
    ):
        assert key in data
    assert (data["attempts"], data["deliveries"], data["undelivered"]) == (6, 4, 1)
    assert set(data["latency_ms"]) >= {"p50", "p95", "p99"}
    ep_a = next(e for e in data["endpoints"] if e["id"] == "ep_a")
    assert ep_a["undelivered"] == 1 and ep_a["top_status_codes"] == [{"status": 500, "count": 1}]


def test_stats_text_and_bad_options(fixture_store: Store) -> None:
    text = run("stats", "--db", fixture_store.url).stdout
    assert (
        "first-attempt success  50.0%" in text and "final success          75.0%" in text and "ep_a" in text
    )
    bad = run("stats", "--db", fixture_store.url, "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.stderr and "neither a duration" in bad.stderr
