"""alerts.toml validation (`alerts check`) and `watch --once` exit codes, on both stores."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from console.domain.alerts import AlertState
from console.domain.times import format_ms, now_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.alerts import firing_alerts, load_states, pending_outbox, resolved_alerts
from console.watch.rules import AlertsError, Metric, parse_alerts
from console.watch.state import run_evaluation
from tests.helpers import run
from tests.watch_support import alerts_toml, receiving, traffic, wait_for


def _problems(text: str) -> list[str]:
    with pytest.raises(AlertsError) as caught:
        parse_alerts(text, Path("alerts.toml"))
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[rule]]\nname = "x"\nmetric = "succes_rate"\nbelow = 0.5\n', "rule 'x': metric: must be one of"),
        ('[[rule]]\nname = "x"\nmetric = "success_rate"\n', "rule 'x': below: give exactly one of below"),
        (
            '[[rule]]\nname = "x"\nmetric = "undelivered"\nabove = 1\nbelow = 2\n',
            "rule 'x': below: give exactly one",
        ),
        (
            '[[rule]]\nname = "x"\nmetric = "success_rate"\nbelow = 0.5\nwindow = "5 minutes"\n',
            "rule 'x': window:",
        ),
        (
            '[[rule]]\nname = "x"\nmetric = "success_rate"\nbelow = 0.5\nfor = 30\n',
            "rule 'x': for: must be a duration",
        ),
        (
            '[[rule]]\nname = "x"\nmetric = "success_rate"\nbelow = 0.5\nthreshhold = 1\n',
            "rule 'x': threshhold: unknown",
        ),
        ('[[rule]]\nmetric = "success_rate"\nbelow = 0.5\n', "rule #1: name: missing"),
        ('[[rule]]\nname = "b"\nkind = "burn_rate"\nslo = 1.5\n', "rule 'b': slo: must be"),
        (
            '[[rule]]\nname = "b"\nkind = "burn_rate"\nslo = 0.99\nlong = "5m"\nshort = "1h"\n',
            "rule 'b': long:",
        ),
        ('[[channel]]\nkind = "email"\n', "channel #1: kind: must be one of"),
        (
            '[[channel]]\nkind = "webhook"\nurl = "http://alerts.example.com/x"\n',
            "url: plain http is only allowed",
        ),
        (
            '[[channel]]\nkind = "webhook"\nurl = "https://a.example.com"\nsecret = "whsec_abc"\n',
            "secret: must be a reference",
        ),
        ('[[channel]]\nkind = "pagerduty"\n', "channel #1: routing_key: missing"),
        ('[[channel]]\nkind = "command"\ncommand = []\n', "channel #1: command: must be"),
        ("[rule]\nname = 1\n", "'rule' must be an array of tables"),
        ("[[rule]\n", "not valid TOML"),
    ],
)
def test_bad_alerts_file_gets_one_clear_line_naming_rule_and_key(text: str, expected: str) -> None:
    problems = _problems(text)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("alerts.toml") and "\n" not in p for p in problems)


def test_a_good_file_parses_with_defaults() -> None:
    config = parse_alerts(
        '[[rule]]\nname = "down"\nmetric = "success_rate"\nbelow = 0.5\n\n'
        '[[rule]]\nname = "burn"\nkind = "burn_rate"\nslo = 0.999\n\n'
        '[[channel]]\nkind = "slack"\nurl = "https://hooks.slack.com/services/T/B/X"\n'
    )
    down, burn = config.rules
    assert (down.endpoint, down.window_ms, down.min_attempts, down.for_ms, down.above) == (
        "*",
        300_000,
        1,
        0,
        False,
    )
    assert burn.metric is Metric.BURN_RATE and burn.threshold == 14.4
    assert (burn.window_ms, burn.short_ms, burn.slo) == (3_600_000, 300_000, 0.999)
    assert config.channels[0].name == "slack-1"


def test_alerts_check_command(tmp_path: Path) -> None:
    good = tmp_path / "alerts.toml"
    good.write_text(alerts_toml("https://alerts.example.com/hook", secret=True))
    result = run("alerts", "check", str(good), env={"ALERT_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    assert result.exit_code == 0 and "1 rule(s), 1 channel(s), ok" in result.stdout
    missing = run("alerts", "check", str(good), env={"ALERT_SECRET": ""})
    assert missing.exit_code == 1
    assert (
        "channel 'webhook-1': secret: env:ALERT_SECRET: environment variable ALERT_SECRET is not set"
        in missing.stderr
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "x"\nmetric = "success_rate"\nbelow = "half"\n')
    result = run("alerts", "check", str(bad))
    assert result.exit_code == 1 and "rule 'x': below: must be a number" in result.stderr
    assert run("alerts", "check", str(tmp_path / "nope.toml")).exit_code == 1


def _ingest(store_url: str, tmp_path: Path, lines: list[bytes], name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"".join(lines))
    assert run("--db", store_url, "ingest", str(path)).exit_code == 0


def test_once_exit_codes_and_state_in_the_store(store_url: str, store: Store, tmp_path: Path) -> None:
    alerts = tmp_path / "alerts.toml"
    with receiving() as receiver:
        alerts.write_text(alerts_toml(receiver.url))
        _ingest(store_url, tmp_path, traffic("ep_ok", 10, 200), "ok.jsonl")
        healthy = run("--db", store_url, "watch", "--once", "--alerts", str(alerts))
        assert healthy.exit_code == 0, healthy.stderr
        _ingest(store_url, tmp_path, traffic("ep_down", 6, 500), "down.jsonl")
        firing = run("--db", store_url, "watch", "--once", "--alerts", str(alerts))
        assert firing.exit_code == 3, firing.stderr
        assert "ep_down: endpoint-down firing" in firing.stderr
        assert [b["state"] for b in receiver.bodies()] == ["firing"]
        # a second cron run: still firing (exit 3), nothing sent again
        assert run("--db", store_url, "watch", "--once", "--alerts", str(alerts)).exit_code == 3
        assert [a.endpoint_id for a in firing_alerts(store)] == ["ep_down"]
        _ingest(store_url, tmp_path, traffic("ep_down", 20, 200), "back.jsonl")
        assert run("--db", store_url, "watch", "--once", "--alerts", str(alerts)).exit_code == 0
        assert wait_for(lambda: len(receiver.bodies()) == 2)
        assert [b["state"] for b in receiver.bodies()] == ["firing", "resolved"]
    assert firing_alerts(store) == []
    assert [(r.rule, r.endpoint_id) for r in resolved_alerts(store, 0)] == [("endpoint-down", "ep_down")]
    assert pending_outbox(store) == []


def test_once_exits_1_on_an_error(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    bad = tmp_path / "alerts.toml"
    bad.write_text('[[rule]]\nname = "x"\n')
    assert run("--db", db, "watch", "--once", "--alerts", str(bad)).exit_code == 1
    assert run("--db", db, "watch", "--once", str(tmp_path / "missing.jsonl")).exit_code == 1


def test_for_and_repeat_and_backlog_rules(store: Store, tmp_path: Path) -> None:
    """`for` holds a condition before firing; `repeat` reminds; a drained backlog resolves without traffic."""
    config = parse_alerts(
        '[[rule]]\nname = "slow-fire"\nmetric = "success_rate"\nbelow = 0.5\nfor = "10s"\nmin_attempts = 3\n\n'
        '[[rule]]\nname = "backlog"\nmetric = "undelivered"\nabove = 2\nrepeat = "30s"\n\n'
        '[[channel]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/x"\n'
    )
    log = tmp_path / "down.jsonl"
    log.write_bytes(b"".join(traffic("ep_down", 4, 500)))
    ingest_sources(store, [str(log)])
    t0 = now_ms()
    first = run_evaluation(store, config.rules, config.channels, t0)
    assert [(n.rule, n.state) for n in first.notifications] == [("backlog", AlertState.FIRING)]
    assert load_states(store)[("slow-fire", "ep_down")].state is AlertState.PENDING
    assert run_evaluation(store, config.rules, config.channels, t0 + 5_000).notifications == ()
    later = run_evaluation(store, config.rules, config.channels, t0 + 10_000)
    assert [(n.rule, n.state) for n in later.notifications] == [("slow-fire", AlertState.FIRING)]
    assert later.notifications[0].body["since"] == format_ms(t0)  # since the condition started to hold
    reminder = run_evaluation(store, config.rules, config.channels, t0 + 31_000)
    assert [(n.rule, n.reminder) for n in reminder.notifications] == [("backlog", True)]
    assert len(pending_outbox(store)) == 3
    # the backlog drains (the events get delivered by retries): resolved, though ep_down has no new figures
    retry = tmp_path / "retry.jsonl"
    lines = []
    for raw in log.read_bytes().splitlines():
        line = orjson.loads(raw)
        line.update(attempt=2, status_code=200)
        line.pop("payload")
        lines.append(orjson.dumps(line) + b"\n")
    retry.write_bytes(b"".join(lines))
    ingest_sources(store, [str(retry)])
    done = run_evaluation(store, config.rules, config.channels, t0 + 32_000)
    assert ("backlog", AlertState.RESOLVED) in [(n.rule, n.state) for n in done.notifications]


def test_recovered_endpoints_after_a_failure_streak(store: Store, tmp_path: Path) -> None:
    from console.watch import recovered_endpoints

    lines = traffic("ep_back", 6, 503, seconds_ago=300) + traffic("ep_back", 4, 200, seconds_ago=30)
    lines += traffic("ep_still_down", 6, 500, seconds_ago=300) + traffic(
        "ep_still_down", 3, 500, seconds_ago=30
    )
    lines += traffic("ep_fine", 10, 200, seconds_ago=30)
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"".join(lines))
    ingest_sources(store, [str(path)])
    now = now_ms()
    (recovery,) = recovered_endpoints(store, now)
    assert (recovery.endpoint_id, recovery.failures, recovery.successes_since) == ("ep_back", 6, 4)
    assert recovery.last_failure_ms < recovery.recovered_ms <= now
    assert recovered_endpoints(store, now, min_successes=5) == []
    # Seen from a moment between the failures and the successes (the console with its clock set back, a store
    # holding later attempts), ep_back has not recovered yet.
    assert recovered_endpoints(store, now - 120_000) == []


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    alerts = tmp_path / "alerts.toml"
    alerts.write_text(alerts_toml("http://127.0.0.1:9/alerts"))
    _ingest(db, tmp_path, traffic("ep_down", 6, 500), "down.jsonl")
    result = run("--db", db, "watch", "--once", "--json-logs", "--alerts", str(alerts))
    assert result.exit_code == 3
    entries = [orjson.loads(line) for line in result.stderr.splitlines()]
    events = [e["event"] for e in entries]
    assert "alert_firing" in events and "channel_failing" in events
    assert all({"at", "level", "event", "message"} <= set(e) for e in entries)


def test_a_metrics_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("--db", str(tmp_path / "store.db"), "watch", "--metrics-port", str(port))
    assert result.exit_code == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_alerts_file_not_utf8_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """alerts.toml is read as endpoints.toml is (console/tomlconfig.py): undecodable bytes are a TOML problem."""
    bad = tmp_path / "alerts.toml"
    bad.write_bytes(b'[[rule]]\nname = "\xff"\n')
    result = run("alerts", "check", str(bad))
    assert result.exit_code == 1
    assert f"{bad}: not valid TOML" in result.stderr and "Traceback" not in result.stderr
