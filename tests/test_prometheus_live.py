"""A real Prometheus (Debian's 2.42) scraping a real `watch` through an outage, with docs/prometheus/rules.yml
loaded (windows shortened to 1m to fit a test): the docs' rules fire and resolve beside `watch`'s own rule,
no false WebhookSlow on 1.2 s answers, and every query of the Grafana dashboard returns data."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.helpers import log_line, run
from tests.prometheus_support import ROOT, RULES, prometheus_tool
from tests.test_watch_live import watching
from tests.watch_support import alerts_toml, append, free_port, receiving, traffic, wait_for

DASHBOARD = ROOT / "docs" / "grafana" / "hookconsole.json"
SCRAPE_S = 1


@contextlib.contextmanager
def _prometheus(tmp_path: Path, watch_port: int) -> Iterator[str]:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.read_text().replace("[5m]", "[1m]"))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: {SCRAPE_S}s, evaluation_interval: {SCRAPE_S}s}}\n"
        f"rule_files: [{rules}]\n"
        f"scrape_configs:\n  - job_name: hookconsole\n    static_configs: [{{targets: ['127.0.0.1:{watch_port}']}}]\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [
            prometheus_tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _ready(url), timeout=30), (tmp_path / "prometheus.log").read_text()[-2000:]
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    return False


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    return list(answer["data"]["result"])


def _firing(url: str) -> set[tuple[str, str]]:
    alerts = httpx.get(f"{url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return {
        (a["labels"]["alertname"], a["labels"].get("endpoint", "")) for a in alerts if a["state"] == "firing"
    }


def _states(receiver: Any) -> list[str]:
    return [b["state"] for b in receiver.bodies() if b["rule"] == "endpoint-down"]


def test_prometheus_and_watch_agree_through_an_outage(tmp_path: Path) -> None:
    prometheus_tool("prometheus")
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"".join(traffic("ep_pay", 10, 200, latency_ms=1200.0)))
    watch_port = free_port()
    seen_alerts: set[tuple[str, str]] = set()
    with receiving() as receiver:
        alerts = tmp_path / "alerts.toml"
        alerts.write_text(alerts_toml(receiver.url).replace('window = "5m"', 'window = "1m"'))
        args = (str(log), "--alerts", str(alerts), "--metrics-port", str(watch_port))
        with (
            watching(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", *args) as watch,
            _prometheus(tmp_path, watch_port) as prom,
        ):
            assert wait_for(lambda: bool(_query(prom, 'up{job="hookconsole"} == 1')), timeout=30)
            assert wait_for(lambda: bool(_query(prom, "hookconsole_attempts_total")), timeout=30)
            time.sleep(3 * SCRAPE_S)  # a few healthy samples before the outage
            append(log, traffic("ep_pay", 12, 503, seconds_ago=1, latency_ms=1200.0))
            assert wait_for(lambda: _states(receiver) == ["firing"], timeout=30), watch.stderr
            watch_fired = time.monotonic()
            assert wait_for(lambda: ("WebhookEndpointDown", "ep_pay") in _firing(prom), timeout=30)
            prom_fired = time.monotonic()
            seen_alerts |= _firing(prom)
            append(log, traffic("ep_pay", 40, 200, seconds_ago=1, latency_ms=1200.0))
            assert wait_for(lambda: _states(receiver) == ["firing", "resolved"], timeout=30), watch.stderr
            watch_resolved = time.monotonic()
            assert wait_for(lambda: ("WebhookEndpointDown", "ep_pay") not in _firing(prom), timeout=30)
            prom_resolved = time.monotonic()
            seen_alerts |= _firing(prom)
            time.sleep(2 * SCRAPE_S)
            dashboard = json.loads(DASHBOARD.read_text())
            empty = [
                target["expr"]
                for panel in dashboard["panels"]
                for target in panel["targets"]
                if not _query(prom, target["expr"].replace("$__rate_interval", "2m"))
            ]
            assert empty == [], "every dashboard query returns data"
            firing_gauge = _query(prom, 'hookconsole_alert_firing{rule="endpoint-down",endpoint="ep_pay"}')
            assert [s["value"][1] for s in firing_gauge] == ["0"]
            sent = _query(prom, 'hookconsole_notifications_total{result="delivered"}')
            assert [s["value"][1] for s in sent] == ["2"], "the firing and the resolve, counted"
    # Prometheus sees an evaluation of watch's and a scrape later; both within a few intervals of each other
    assert abs(prom_fired - watch_fired) < 5 * SCRAPE_S, prom_fired - watch_fired
    assert abs(prom_resolved - watch_resolved) < 5 * SCRAPE_S, prom_resolved - watch_resolved
    assert ("WebhookSlow", "ep_pay") not in seen_alerts, "1.2 s answers are not slow"
    assert not {a for a in seen_alerts if a[0] == "WebhookSLOBurn"} - {("WebhookSLOBurn", "ep_pay")}


def _retried_history(endpoint_id: str, count: int = 300) -> bytes:
    """`count` events two days ago, each failing once (503) and delivered on the second attempt."""
    at = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = []
    for i in range(count):
        event_id = f"evt_old_{endpoint_id}_{i}"
        lines.append(log_line(event_id, endpoint_id, attempted_at=at, status_code=503))
        lines.append(log_line(event_id, endpoint_id, attempt=2, attempted_at=at, status_code=200))
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def test_a_backfill_and_a_prune_fire_nothing_in_prometheus(tmp_path: Path) -> None:
    prometheus_tool("prometheus")
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"".join(traffic("ep_ok", 20, 200)))
    db = f"sqlite:///{tmp_path / 'store.db'}"
    watch_port = free_port()
    fired: set[tuple[str, str]] = set()
    with (
        watching(tmp_path, db, str(log), "--metrics-port", str(watch_port)),
        _prometheus(tmp_path, watch_port) as prom,
    ):
        assert wait_for(lambda: bool(_query(prom, 'hookconsole_attempts_total{endpoint="ep_ok"} > 0')), 30)
        before = _query(prom, "sum(hookconsole_attempts_total)")[0]["value"][1]
        # two days ago, at a healthy endpoint and a new one: half the attempts failed
        old = tmp_path / "old.jsonl"
        old.write_bytes(b"".join(_retried_history(endpoint) for endpoint in ("ep_ok", "ep_gone")))
        assert run("--db", db, "ingest", str(old)).exit_code == 0
        assert wait_for(lambda: bool(_query(prom, "sum(hookconsole_late_attempts_total) >= 1200")), 30)
        append(log, traffic("ep_ok", 20, 200, seconds_ago=1))
        pruned = run("--db", db, "prune", "--older-than", "1d", "--rollups-older-than", "1d", "--yes")
        assert pruned.exit_code == 0, pruned.stderr
        deadline = time.monotonic() + 8 * SCRAPE_S
        while time.monotonic() < deadline:
            fired |= _firing(prom)
            time.sleep(SCRAPE_S / 2)
        after = _query(prom, "sum(hookconsole_attempts_total)")[0]["value"][1]
        resets = _query(prom, "sum(resets(hookconsole_attempts_total[5m]))")[0]["value"][1]
    assert fired == set(), fired
    assert float(after) == float(before) + 20, "live traffic counted; the backfill counted apart"
    assert resets == "0", "the prune made no counter go down"


def _active(url: str, name: str) -> list[str]:
    alerts = httpx.get(f"{url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return [a["activeAt"] for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]


def test_a_watch_restart_neither_flaps_a_gauge_rule_nor_resets_a_counter(tmp_path: Path) -> None:
    prometheus_tool("prometheus")
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"".join(traffic("ep_down", 120, None)))  # 120 undelivered: WebhookBacklog (> 100)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    watch_port = free_port()
    args = (str(log), "--metrics-port", str(watch_port))
    with _prometheus(tmp_path, watch_port) as prom:
        with watching(tmp_path, db, *args) as watch:
            assert wait_for(lambda: bool(_active(prom, "WebhookBacklog")), timeout=30)
            (active_at,) = _active(prom, "WebhookBacklog")
            watch.stop()
        assert wait_for(lambda: bool(_query(prom, 'up{job="hookconsole"} == 0')), timeout=15)
        time.sleep(2 * SCRAPE_S)  # a few failed scrapes: the gauges are stale
        assert _active(prom, "WebhookBacklog") == [active_at], "keep_firing_for holds it while watch is down"
        with watching(tmp_path, db, *args):
            assert wait_for(lambda: bool(_query(prom, 'up{job="hookconsole"} == 1')), timeout=30)
            time.sleep(2 * SCRAPE_S)
            assert _active(prom, "WebhookBacklog") == [active_at], "the same alert, not a new one"
            resets = _query(prom, "sum(resets(hookconsole_attempts_total[5m]))")[0]["value"][1]
            total = _query(prom, "sum(hookconsole_attempts_total)")[0]["value"][1]
    assert resets == "0" and total == "120", (resets, total)
