"""The Prometheus metrics, scraped over HTTP and parsed by prometheus-client's parser, agree with `stats --json`."""

from __future__ import annotations

import io
import threading
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
    every = _stats(store_url)
    for endpoint_id, e in every.items():
        for outcome, count in e["outcomes"].items():
            assert (
                samples["hookconsole_attempts_total"][(("endpoint", endpoint_id), ("outcome", outcome))]
                == count
            )
        key = (("endpoint", endpoint_id),)
        assert samples["hookconsole_deliveries_undelivered"][key] == e["undelivered"]
        age = e["oldest_undelivered_age_s"] or 0
        assert abs(samples["hookconsole_oldest_undelivered_age_seconds"][key] - age) <= 2
        assert samples["hookconsole_attempt_duration_seconds_count"][key] == e["latency_ms"]["count"]
        inf = samples["hookconsole_attempt_duration_seconds_bucket"][
            (("endpoint", endpoint_id), ("le", "+Inf"))
        ]
        assert inf == e["latency_ms"]["count"]
        mean = e["latency_ms"]["mean"]
        total_s = samples["hookconsole_attempt_duration_seconds_sum"][key]
        assert (mean is None and total_s == 0) or round(total_s * 1000 / e["latency_ms"]["count"], 2) == mean
    for window in ("5m", "1h"):
        for endpoint_id, e in _stats(store_url, "--since", window).items():
            ratio = samples["hookconsole_endpoint_success_ratio"][
                (("endpoint", endpoint_id), ("window", window))
            ]
            assert ratio == e["outcomes"]["success"] / e["attempts"]


def test_metrics_agree_with_stats_json(store_url: str, store: Store, tmp_path: Path) -> None:
    ingest_sources(store, [str(_history(tmp_path, "history.jsonl"))])
    with _serving(store) as port:
        first = _scrape(port)
        _agree(first, store_url)
        assert first["hookconsole_attempts_total"][(("endpoint", "ep_b"), ("outcome", "network_error"))] == 4
        assert first["hookconsole_attempts_total"][(("endpoint", "ep_b"), ("outcome", "timeout"))] == 2
        assert first["hookconsole_deliveries_undelivered"][(("endpoint", "ep_a"),)] == 3
        assert (("endpoint", "ep_a"), ("window", "5m")) in first["hookconsole_endpoint_success_ratio"]
        # the 1h ratio holds the 30-minute-old successes, the 5m one does not
        ratios = first["hookconsole_endpoint_success_ratio"]
        assert ratios[(("endpoint", "ep_a"), ("window", "1h"))] == 14 / 17
        assert ratios[(("endpoint", "ep_a"), ("window", "5m"))] == 12 / 15
        # new traffic now, and late data for an hour long sealed: both show up, still in agreement
        late = tmp_path / "late.jsonl"
        late.write_bytes(
            b"".join(traffic("ep_c", 3, 200))
            + orjson.dumps(log_line("evt_late_1", "ep_a", attempted_at=_old(30), status_code=404))
            + b"\n"
        )
        ingest_sources(store, [str(late)])
        second = _scrape(port)
        _agree(second, store_url)
        assert (
            second["hookconsole_attempts_total"][(("endpoint", "ep_a"), ("outcome", "http_error"))]
            == 3 + 5 + 1
        )


def test_a_scrape_keeps_sealed_hours_and_rereads_only_open_ones(store: Store, tmp_path: Path) -> None:
    ingest_sources(store, [str(_history(tmp_path, "history.jsonl"))])
    _, collector = make_registry(store)
    list(collector.collect())
    assert collector.totals.rebuilds == 1
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_bytes(b"".join(traffic("ep_a", 2, 200)))
    ingest_sources(store, [str(fresh)])
    families = {f.name: f for f in collector.collect()}
    assert collector.totals.rebuilds == 1, "new attempts in the open hour must not rebuild the sealed sums"
    counts = {tuple(s.labels.values()): s.value for s in families["hookconsole_attempts"].samples}
    assert counts[("ep_a", "success")] == 12 + 2 + 5 + 2
    old = tmp_path / "old.jsonl"
    old.write_bytes(orjson.dumps(log_line("evt_x", "ep_a", attempted_at=_old(5), status_code=200)) + b"\n")
    ingest_sources(store, [str(old)])
    families = {f.name: f for f in collector.collect()}
    assert collector.totals.rebuilds == 2, "late data in a sealed hour rebuilds them"
    counts = {tuple(s.labels.values()): s.value for s in families["hookconsole_attempts"].samples}
    assert counts[("ep_a", "success")] == 12 + 2 + 5 + 2 + 1


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
        assert samples["hookconsole_source_lag_seconds"][(("source", str(log)),)] == 0
        assert sum(samples["hookconsole_attempts_total"].values()) == 3
    finally:
        stop.set()
        thread.join(timeout=10)
