"""The Prometheus metrics, scraped over HTTP and parsed by prometheus-client's parser, agree with `stats --json`."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from console.ingest.service import ingest_sources
from console.store import Store
from console.store.totals import fold, read_totals
from console.watch.daemon import Watcher, WatchOptions
from console.watch.logs import Log
from console.watch.metrics import make_registry
from console.watch.rules import parse_alerts
from tests.helpers import log_line, run
from tests.watch_support import traffic, wait_for


def _old(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _history(tmp_path: Path, name: str) -> Path:
    lines: list[bytes] = []
    lines += traffic("ep_a", 12, 200, latency_ms=35.0)
    lines += traffic("ep_a", 3, 500, latency_ms=900.0)
    lines += traffic("ep_a", 2, 200, seconds_ago=1800, latency_ms=4.0)  # 30 minutes ago: in 1h, not in 5m
    lines += traffic("ep_b", 4, None, error="connection refused")
    lines += traffic("ep_b", 2, None, error="timeout: ReadTimeout after 10s")
    for i in range(5):  # two days ago, a retried event that got through on attempt 2
        eid = f"evt_old_{name}_{i}"
        lines.append(
            orjson.dumps(log_line(eid, "ep_a", attempted_at=_old(48), status_code=502, latency_ms=120.0))
            + b"\n"
        )
        second = log_line(eid, "ep_a", attempt=2, attempted_at=_old(47.9), status_code=200, latency_ms=80.0)
        lines.append(orjson.dumps(second) + b"\n")
    path = tmp_path / name
    path.write_bytes(b"".join(lines))
    return path


def _scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def _stats(store_url: str, *args: str) -> dict[str, Any]:
    result = run("--db", store_url, "stats", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return {e["id"]: e for e in orjson.loads(result.stdout)["endpoints"]}


@contextmanager
def _serving(store: Store) -> Iterator[int]:
    watcher = Watcher(store, parse_alerts(""), WatchOptions(metrics_port=0, every_s=0.2), Log(io.StringIO()))
    stop = threading.Event()
    ports: list[int | None] = []
    thread = threading.Thread(target=watcher.run, args=(stop, ports.append), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: bool(ports), timeout=20)
        assert ports[0] is not None
        yield ports[0]
    finally:
        stop.set()
        thread.join(timeout=10)


def _agree(samples: dict[str, Any], store_url: str) -> None:
    """Seeded from the rollups, the counters equal `stats --json`'s all-time figures."""
    every = _stats(store_url)
    for endpoint_id, e in every.items():
        for outcome, count in e["outcomes"].items():
            assert (
                samples["hookconsole_attempts_total"][(("endpoint", endpoint_id), ("outcome", outcome))]
                == count
            )
        key = (("endpoint", endpoint_id),)
        assert samples["hookconsole_deliveries_undelivered"][key] == e["undelivered"]
        oldest = samples["hookconsole_oldest_undelivered_timestamp_seconds"].get(key)
        age = e["oldest_undelivered_age_s"]
        assert (oldest is None and age is None) or abs(time.time() - oldest - age) <= 2
        assert samples["hookconsole_attempt_duration_seconds_count"][key] == e["latency_ms"]["count"]
        mean = e["latency_ms"]["mean"]
        total_s = samples["hookconsole_attempt_duration_seconds_sum"][key]
        assert (mean is None and total_s == 0) or round(total_s * 1000 / e["latency_ms"]["count"], 2) == mean


def _value(samples: dict[str, Any], name: str, **labels: str) -> float:
    return float(samples[name].get(tuple(sorted(labels.items())), 0.0))


def test_metrics_agree_with_stats_json_then_count_arrivals(
    store_url: str, store: Store, tmp_path: Path
) -> None:
    ingest_sources(store, [str(_history(tmp_path, "history.jsonl"))])
    with _serving(store) as port:
        first = _scrape(port)
        _agree(first, store_url)
        assert _value(first, "hookconsole_attempts_total", endpoint="ep_b", outcome="network_error") == 4
        assert _value(first, "hookconsole_attempts_total", endpoint="ep_b", outcome="timeout") == 2
        assert _value(first, "hookconsole_attempt_failures_total", endpoint="ep_b", reason="timeout") == 2
        assert (
            _value(first, "hookconsole_attempt_failures_total", endpoint="ep_b", reason="connection_refused")
            == 4
        )
        assert (
            _value(first, "hookconsole_attempt_failures_total", endpoint="ep_a", reason="http_5xx") == 3 + 5
        )
        assert _value(first, "hookconsole_deliveries_undelivered", endpoint="ep_a") == 3
        assert not any(k.startswith("hookconsole_endpoint_success_ratio") for k in first)
        # new traffic counts as it arrives; a line from 30 hours ago is late history, counted apart
        late = tmp_path / "late.jsonl"
        late.write_bytes(
            b"".join(traffic("ep_c", 3, 200))
            + orjson.dumps(log_line("evt_late_1", "ep_a", attempted_at=_old(30), status_code=404))
            + b"\n"
        )
        ingest_sources(store, [str(late)])
        second = _scrape(port)
        assert _value(second, "hookconsole_attempts_total", endpoint="ep_c", outcome="success") == 3
        assert _value(second, "hookconsole_deliveries_total", endpoint="ep_c") == 3
        assert _value(second, "hookconsole_deliveries_delivered_first_attempt_total", endpoint="ep_c") == 3
        assert _value(second, "hookconsole_attempts_total", endpoint="ep_a", outcome="http_error") == 3 + 5
        assert _value(second, "hookconsole_late_attempts_total", endpoint="ep_a", outcome="http_error") == 1
        assert _stats(store_url)["ep_a"]["outcomes"]["http_error"] == 3 + 5 + 1


def test_a_scrape_folds_only_what_arrived_and_a_new_process_goes_on_from_the_store(
    store: Store, tmp_path: Path
) -> None:
    ingest_sources(store, [str(_history(tmp_path, "history.jsonl"))])
    _, collector = make_registry(store)  # seeds the totals from the rollups, reading no attempt
    assert collector.totals.folded == 0
    list(collector.collect())
    assert collector.totals.folded == 0
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_bytes(b"".join(traffic("ep_a", 2, 200)))
    ingest_sources(store, [str(fresh)])
    families = {f.name: f for f in collector.collect()}
    assert collector.totals.folded == 2, "only the two new attempts are read"
    counts = {tuple(s.labels.values()): s.value for s in families["hookconsole_attempts"].samples}
    assert counts[("ep_a", "success")] == 12 + 2 + 5 + 2
    list(collector.collect())
    assert collector.totals.folded == 2, "a scrape with nothing new reads no attempt"
    _, restarted = make_registry(store)  # another process, or this one after a restart
    families = {f.name: f for f in restarted.collect()}
    assert restarted.totals.folded == 0
    again = {tuple(s.labels.values()): s.value for s in families["hookconsole_attempts"].samples}
    assert again == counts


def test_buckets_fit_webhooks_and_their_edges_are_exact(store: Store, tmp_path: Path) -> None:
    ingest_sources(store, [str(_history(tmp_path, "history.jsonl"))])
    _, collector = make_registry(store)
    list(collector.collect())
    edges = tmp_path / "edges.jsonl"
    edges.write_bytes(
        b"".join(
            traffic("ep_e", 1, 200, latency_ms=ms)[0]
            for ms in (10.0, 1200.0, 2000.0, 2000.5, 30000.0, 30000.5, 120000.0, 130000.0)
        )
    )
    ingest_sources(store, [str(edges)])
    families = {f.name: f for f in collector.collect()}
    buckets = {
        s.labels["le"]: s.value
        for s in families["hookconsole_attempt_duration_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["endpoint"] == "ep_e"
    }
    assert list(buckets) == [
        "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.0", "2.5", "5.0",
        "10.0", "15.0", "30.0", "60.0", "120.0", "+Inf",
    ]  # fmt: skip
    assert buckets["0.01"] == 1  # 10 ms exactly
    assert buckets["1.0"] == 1
    assert buckets["2.0"] == 3  # 1.2 s and 2 s exactly: a 2 s threshold is exact
    assert buckets["2.5"] == 4
    assert buckets["30.0"] == 5  # a 30 s timeout is within le=30
    assert buckets["60.0"] == 6
    assert buckets["120.0"] == 7
    assert buckets["+Inf"] == 8


def test_counters_do_not_go_down_when_history_is_pruned(store_url: str, store: Store, tmp_path: Path) -> None:
    ingest_sources(store, [str(_history(tmp_path, "history.jsonl"))])
    _, collector = make_registry(store)

    def counters() -> dict[tuple[str, ...], float]:
        return {
            (s.name, *s.labels.values()): s.value
            for f in collector.collect()
            if f.type in ("counter", "histogram")
            for s in f.samples
            if not s.name.endswith("_created")
        }

    before = counters()
    result = run("--db", store_url, "prune", "--older-than", "1h", "--rollups-older-than", "1h", "--yes")
    assert result.exit_code == 0, result.stderr
    assert _stats(store_url)["ep_a"]["attempts"] < 17 + 10, "the prune removed history"
    assert counters() == before


def test_a_failing_scrape_answers_500_and_logs_one_json_line(
    sqlite_store: Store, tmp_path: Path, capfd: Any
) -> None:
    ingest_sources(sqlite_store, [str(_history(tmp_path, "history.jsonl"))])
    out = io.StringIO()
    watcher = Watcher(
        sqlite_store, parse_alerts(""), WatchOptions(metrics_port=0, every_s=60), Log(out, True)
    )
    stop = threading.Event()
    ports: list[int | None] = []
    thread = threading.Thread(target=watcher.run, args=(stop, ports.append), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: bool(ports), timeout=20)
        assert httpx.get(f"http://127.0.0.1:{ports[0]}/metrics", timeout=10).status_code == 200
        with sqlite_store.write() as conn:
            conn.exec_driver_sql("DROP TABLE delivery")  # the store broken under a running watch
        for _ in range(3):
            response = httpx.get(f"http://127.0.0.1:{ports[0]}/metrics", timeout=10)
            assert response.status_code == 500
    finally:
        stop.set()
        thread.join(timeout=10)
    failed = [orjson.loads(line) for line in out.getvalue().splitlines() if "metrics_failed" in line]
    assert len(failed) == 1 and "no such table: delivery" in failed[0]["message"], out.getvalue()
    assert failed[0]["level"] == "error"
    assert "Traceback" not in capfd.readouterr().err


def test_watch_serves_its_own_workings(sqlite_store: Store, tmp_path: Path) -> None:
    ingest_sources(sqlite_store, [str(_history(tmp_path, "history.jsonl"))])
    config = parse_alerts(
        '[[rule]]\nname = "down"\nmetric = "success_rate"\nbelow = 0.01\n\n'
        '[[channel]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\nname = "ops"\n'
    )
    watcher = Watcher(sqlite_store, config, WatchOptions(metrics_port=0, every_s=0.1), Log(io.StringIO()))
    stop = threading.Event()
    ports: list[int | None] = []
    thread = threading.Thread(target=watcher.run, args=(stop, ports.append), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: bool(ports), timeout=20)
        assert wait_for(lambda: _scrape(ports[0] or 0)["hookconsole_watch_evaluations_total"][()] >= 2)
        samples = _scrape(ports[0] or 0)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert samples["process_resident_memory_bytes"][()] > 0
    assert any(dict(k)["version"] for k in samples["hookconsole_build_info"])
    assert samples["hookconsole_watch_evaluation_failures_total"][()] == 0
    assert abs(samples["hookconsole_watch_last_evaluation_timestamp_seconds"][()] - time.time()) < 10
    assert samples["hookconsole_alert_firing"] == {
        (("endpoint", "ep_a"), ("rule", "down")): 0,  # judged, not firing: 0, not absent
        (("endpoint", "ep_b"), ("rule", "down")): 1,  # every attempt failed
    }
    assert _value(samples, "hookconsole_notifications_total", channel="ops", result="delivered") == 0
    assert 0 < samples["hookconsole_scrape_duration_seconds"][()] < 5


def test_source_lag_is_served_for_each_followed_file(sqlite_store: Store, tmp_path: Path) -> None:
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"".join(traffic("ep_a", 3, 200)))
    options = WatchOptions(sources=[str(log)], metrics_port=0, every_s=0.2, follow_flush_s=0.2)
    watcher = Watcher(sqlite_store, parse_alerts(""), options, Log(io.StringIO()))
    stop = threading.Event()
    ports: list[int | None] = []
    thread = threading.Thread(target=watcher.run, args=(stop, ports.append), daemon=True)
    thread.start()
    try:
        assert wait_for(
            lambda: bool(ports) and bool(_scrape(ports[0] or 0).get("hookconsole_attempts_total"))
        )
        samples = _scrape(ports[0] or 0)
        seen = samples["hookconsole_source_last_success_timestamp_seconds"][(("source", str(log)),)]
        assert abs(seen - time.time()) < 5
        assert sum(samples["hookconsole_attempts_total"].values()) == 3
    finally:
        stop.set()
        thread.join(timeout=10)


def test_a_scrape_folds_at_most_a_chunk_the_rest_at_the_next(sqlite_store: Store, tmp_path: Path) -> None:
    ingest_sources(sqlite_store, [str(_history(tmp_path, "history.jsonl"))])
    make_registry(sqlite_store)
    burst = tmp_path / "burst.jsonl"
    burst.write_bytes(b"".join(traffic("ep_f", 5, 200)))
    ingest_sources(sqlite_store, [str(burst)])
    now = int(time.time() * 1000)
    assert fold(sqlite_store, now, chunk=3) == 3
    assert read_totals(sqlite_store)["ep_f"].get("attempts|success") == 3
    assert fold(sqlite_store, now, chunk=3) == 2
    assert fold(sqlite_store, now, chunk=3) == 0
    assert read_totals(sqlite_store)["ep_f"].get("attempts|success") == 5


def test_a_prune_of_the_newest_attempts_loses_no_later_arrival(sqlite_store: Store, tmp_path: Path) -> None:
    """On SQLite an attempt written after the newest were pruned reuses their `seq`: still counted."""
    ingest_sources(sqlite_store, [str(_history(tmp_path, "history.jsonl"))])
    _, collector = make_registry(sqlite_store)
    old = tmp_path / "old.jsonl"  # the newest rows, and delivered two days ago: the prune takes them
    old.write_bytes(b"".join(traffic("ep_old", 5, 200, seconds_ago=2 * 86400)))
    ingest_sources(sqlite_store, [str(old)])  # not scraped yet: the prune must count them first
    result = run("--db", sqlite_store.url, "prune", "--older-than", "1d", "--yes")
    assert result.exit_code == 0, result.stderr
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_bytes(b"".join(traffic("ep_new", 4, 200)))
    ingest_sources(sqlite_store, [str(fresh)])
    families = {f.name: f for f in collector.collect()}
    counts = {tuple(s.labels.values()): s.value for s in families["hookconsole_late_attempts"].samples}
    assert counts[("ep_old", "success")] == 5
    counts = {tuple(s.labels.values()): s.value for s in families["hookconsole_attempts"].samples}
    assert counts[("ep_new", "success")] == 4


def _tries(event_id: str, statuses: list[int], minutes_ago: float) -> bytes:
    """One delivery to ep_g: an attempt per status, a second apart, the first `minutes_ago`."""
    start = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return b"".join(
        orjson.dumps(
            log_line(
                event_id,
                "ep_g",
                attempt=n,
                attempted_at=(start + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                status_code=status,
            )
        )
        + b"\n"
        for n, status in enumerate(statuses, start=1)
    )


def test_given_up_counts_deliveries_whose_last_scheduled_try_failed(store: Store, tmp_path: Path) -> None:
    """With four tries at most: four failures give up; three are still being retried; a success on the last try
    or before is no give-up; a later replay does not take a give-up back. Seeded and folded alike."""
    old = tmp_path / "old.jsonl"
    old.write_bytes(_tries("evt_gone_1", [500, 500, 500, 500], 10) + _tries("evt_late_ok", [500, 200], 10))
    ingest_sources(store, [str(old)])
    _, collector = make_registry(store, max_tries=4)  # seeds from the delivery table

    def given_up() -> float:
        families = {f.name: f for f in collector.collect()}
        return sum(
            s.value for s in families["hookconsole_deliveries_given_up"].samples if s.name.endswith("_total")
        )

    assert given_up() == 1
    new = tmp_path / "new.jsonl"
    new.write_bytes(
        _tries("evt_gone_2", [503, 503, 503, 503], 5)
        + _tries("evt_retrying", [503, 503, 503], 5)
        + _tries("evt_last_ok", [503, 503, 503, 200], 5)
    )
    ingest_sources(store, [str(new)])
    assert given_up() == 2
    replayed = log_line("evt_gone_2", "ep_g", attempt=1, trigger="manual", status_code=200)
    (tmp_path / "replay.jsonl").write_bytes(orjson.dumps(replayed) + b"\n")
    ingest_sources(store, [str(tmp_path / "replay.jsonl")])
    assert given_up() == 2, "a counter never goes down: the replay shows in deliveries_delivered"
    again = tmp_path / "again.jsonl"
    again.write_bytes(_tries("evt_gone_2", [503, 503, 503, 503], 5))  # the same attempts ingested twice
    ingest_sources(store, [str(again)])
    assert given_up() == 2
