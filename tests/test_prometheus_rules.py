"""docs/alerts.md's Prometheus rules, checked and unit-tested by promtool, and a real `watch`'s /metrics linted."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx

from tests.prometheus_support import ROOT, RULES, RULES_TEST, prometheus_tool
from tests.test_watch_live import watching
from tests.test_watch_metrics import _history
from tests.watch_support import free_port, wait_for


def _promtool(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [prometheus_tool("promtool"), *map(str, args)],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _alert_names(rules: Path) -> list[str]:
    return re.findall(r"^ *- alert: (\w+)$", rules.read_text(), flags=re.M)


def _cases(tests: Path) -> list[tuple[str, bool]]:
    """(alertname, whether alerts are expected) of every `alert_rule_test` case (no YAML parser at hand)."""
    cases = re.split(r"^ *- eval_time: ", tests.read_text(), flags=re.M)[1:]
    return [(re.search(r"alertname: (\w+)", c).group(1), "exp_alerts:" in c) for c in cases]  # type: ignore[union-attr]


def test_the_doc_shows_the_rules_file_as_it_is() -> None:
    doc = (ROOT / "docs" / "alerts.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)
    assert RULES.read_text() in blocks, "docs/alerts.md must show docs/prometheus/rules.yml verbatim"


def test_promtool_checks_the_rules() -> None:
    result = _promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alert_names(RULES))} rules found" in result.stdout


def test_promtool_unit_tests_pass_and_cover_every_rule() -> None:
    result = _promtool("test", "rules", RULES_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    cases = _cases(RULES_TEST)
    fired = {name for name, firing in cases if firing}
    quiet = {name for name, firing in cases if not firing}
    assert fired == set(_alert_names(RULES)), "every rule is shown firing"
    assert {"WebhookEndpointDown", "WebhookSLOBurn", "WebhookDeliveryStuck"} <= quiet, "and not firing"


def test_without_keep_firing_for_a_restart_flaps_the_gauge_rules(tmp_path: Path) -> None:
    """The unit tests can fail: the same tests on the rules without keep_firing_for catch the restart."""
    shutil.copy(RULES_TEST, tmp_path / "rules_test.yml")
    text = "".join(line for line in RULES.read_text().splitlines(True) if "keep_firing_for" not in line)
    (tmp_path / "rules.yml").write_text(text)
    result = _promtool("test", "rules", tmp_path / "rules_test.yml")
    assert result.returncode != 0
    assert "alertname: WebhookBacklog, time: 5m" in result.stdout + result.stderr, result.stdout


def test_without_the_firing_arm_an_endpoint_whose_traffic_stops_resolves(tmp_path: Path) -> None:
    shutil.copy(RULES_TEST, tmp_path / "rules_test.yml")
    text = RULES.read_text()
    start = text.index("          or (\n            max by (endpoint) (ALERTS")
    end = text.index("          )\n", start + 20) + len("          )\n")
    (tmp_path / "rules.yml").write_text(text[:start] + text[end:])
    result = _promtool("test", "rules", tmp_path / "rules_test.yml")
    assert result.returncode != 0
    assert "alertname: WebhookEndpointDown, time: 28m" in result.stdout + result.stderr, result.stdout


def test_promtool_check_metrics_is_clean_on_a_real_watch(tmp_path: Path) -> None:
    promtool = prometheus_tool("promtool")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    history = _history(tmp_path, "history.jsonl")
    alerts = tmp_path / "alerts.toml"
    alerts.write_text(
        '[[rule]]\nname = "endpoint-down"\nmetric = "success_rate"\nbelow = 0.5\nmin_attempts = 5\n\n'
        '[[channel]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\nname = "ops"\n'
    )
    port = free_port()
    with watching(tmp_path, db, str(history), "--alerts", str(alerts), "--metrics-port", str(port)) as watch:
        url = f"http://127.0.0.1:{port}/metrics"
        assert wait_for(lambda: b"hookconsole_attempts_total{" in httpx.get(url, timeout=10).content, 30)
        text = httpx.get(url, timeout=10).content
        openmetrics = httpx.get(url, headers={"Accept": "application/openmetrics-text"}, timeout=10)
        watch.stop()
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert result.returncode == 0 and not result.stdout and not result.stderr, result.stdout + result.stderr
    for name in (b"process_cpu_seconds_total", b"hookconsole_build_info{", b"hookconsole_alert_firing{"):
        assert name in text
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
