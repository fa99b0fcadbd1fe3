"""A firing notification built for an incident: the failure breakdown, sample events, the oldest undelivered age
and a replay line that runs; and each channel's body (Slack, PagerDuty, Teams) posted to a real loopback
receiver and checked against the receiver's published format (tests/published_formats.py), also at the limits."""

from __future__ import annotations

import asyncio
import io
import shlex
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.domain.times import now_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.watch.channels import ChannelSender
from console.watch.details import replay_line
from console.watch.logs import Log
from console.watch.outbox import OutboxDelivery
from console.watch.rules import AlertsConfig, parse_alerts
from console.watch.state import run_evaluation
from tests.helpers import run
from tests.published_formats import pagerduty_problems, slack_problems, teams_problems
from tests.watch_support import Receiver, receiving, traffic

PD_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


def _channels(receiver: Receiver) -> str:
    base = f"http://127.0.0.1:{receiver.port}"
    return (
        f'[[channel]]\nname = "hook"\nkind = "webhook"\nurl = "{base}/hook"\n\n'
        f'[[channel]]\nname = "slack"\nkind = "slack"\nurl = "{base}/slack"\n\n'
        f'[[channel]]\nname = "pd"\nkind = "pagerduty"\nurl = "{base}/pd"\nrouting_key = "env:PD_KEY"\n\n'
        f'[[channel]]\nname = "teams"\nkind = "teams"\nurl = "{base}/teams"\n'
    )


def _deliver(store: Store, config: AlertsConfig) -> None:
    sender = ChannelSender(config, {"PD_KEY": PD_KEY})

    async def once() -> None:
        try:
            await OutboxDelivery(store, config, sender, Log(io.StringIO())).deliver_due()
        finally:
            await sender.aclose()

    asyncio.run(once())


def _step(store: Store, config: AlertsConfig, tmp_path: Path, name: str, lines: list[bytes], db: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"".join(lines))
    ingest_sources(store, [str(path)])
    run_evaluation(store, config.rules, config.channels, now_ms(), route=config.channels_for, db_url=db)
    _deliver(store, config)


def _by_path(receiver: Receiver) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for path, _, body in receiver.received:
        out.setdefault(path, []).append(body)
    return out


def test_a_firing_notification_says_what_fails_and_how_to_replay(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    rule = '[[rule]]\nname = "endpoint-down"\nmetric = "success_rate"\nbelow = 0.5\nmin_attempts = 5\n\n'
    failing = [
        *traffic("ep_down", 5, 503, seconds_ago=40),
        *traffic("ep_down", 3, None, seconds_ago=30, error="connect: connection refused"),
        *traffic("ep_down", 2, 429, seconds_ago=20),
    ]
    failing_ids = {line.split(b'"event_id":"')[1].split(b'"')[0].decode() for line in failing}
    with receiving() as receiver:
        config = parse_alerts(rule + _channels(receiver))
        _step(store, config, tmp_path, "down.jsonl", failing, store_url)
        _step(store, config, tmp_path, "back.jsonl", traffic("ep_down", 30, 200), store_url)
        bodies = _by_path(receiver)
    firing, resolved = bodies["/hook"]
    details = firing["details"]
    assert [(f["label"], f["count"]) for f in details["failures"]] == [
        ("HTTP 503", 5),
        ("connection_refused", 3),
        ("HTTP 429", 2),
    ]
    assert details["window_s"] == 300
    assert len(details["sample_event_ids"]) == 5 and set(details["sample_event_ids"]) <= failing_ids
    assert 38 <= details["oldest_undelivered_age_s"] <= 120, "the oldest failing delivery, 40 s ago"
    assert "details" not in resolved, "a resolution needs no incident details"
    # the replay line runs as pasted, and plans exactly the failing deliveries
    words = shlex.split(details["replay"])
    assert words[0] == "hookconsole" and words[-4:] == ["replay", "--endpoint", "ep_down", "--dry-run"]
    endpoints = tmp_path / "endpoints.toml"
    endpoints.write_text(
        '[[endpoint]]\nid = "ep_down"\nurl = "http://127.0.0.1:9/x"\nscheme = "standard"\nsecret = "env:X"\n'
    )
    result = run(*words[1:], "--json", env={"HOOKCONSOLE_ENDPOINTS": str(endpoints)})
    assert result.exit_code == 0, result.stderr
    plan = orjson.loads(result.stdout)
    assert plan["to_send"] == 10 and plan["dry_run"] is True, plan
    assert set(details["sample_event_ids"]) <= {i["event_id"] for i in plan["items"]}
    # every rich channel got a firing and a resolution, each within its published format
    for path, check in (("/slack", slack_problems), ("/pd", pagerduty_problems), ("/teams", teams_problems)):
        assert len(bodies[path]) == 2, path
        for body in bodies[path]:
            assert check(body) == [], (path, body)
    slack_text = str(bodies["/slack"][0]["blocks"])
    assert "HTTP 503: 5" in slack_text and details["sample_event_ids"][0] in slack_text
    assert "replay --endpoint ep_down --dry-run" in slack_text
    trigger, resolve = bodies["/pd"]
    assert trigger["payload"]["custom_details"]["details"]["failures"] == details["failures"]
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"]
    teams_text = str(bodies["/teams"][0])
    assert "HTTP 503: 5" in teams_text and "Attention" in teams_text


def test_bodies_stay_within_the_published_limits_whatever_the_names(
    sqlite_store: Store, tmp_path: Path
) -> None:
    rule_name = "r" * 300  # a rule name is free text: the dedup key would pass 255 characters
    endpoint = "ep_<!channel>_[click](https://evil.example)_*bold*_" + "x" * 100
    rule = (
        f'[[rule]]\nname = "{rule_name}"\nmetric = "success_rate"\nbelow = 0.5\nmin_attempts = 5\n'
        'severity = "critical"\n\n'
    )
    with receiving() as receiver:
        config = parse_alerts(rule + _channels(receiver))
        _step(
            sqlite_store,
            config,
            tmp_path,
            "down.jsonl",
            traffic(endpoint, 6, 500),
            "sqlite:///hookconsole.db",
        )
        bodies = _by_path(receiver)
    (slack,), (pd,), (teams,) = bodies["/slack"], bodies["/pd"], bodies["/teams"]
    assert slack_problems(slack) == [] and pagerduty_problems(pd) == [] and teams_problems(teams) == []
    assert len(pd["dedup_key"]) <= 255 and pd["dedup_key"].startswith("hookconsole/")
    assert pd["payload"]["severity"] == "critical", "the rule's severity wins over the channel's"
    assert "<!channel>" not in str(slack) and "&lt;!channel&gt;" in slack["text"]
    texts = [e["text"] for e in teams["attachments"][0]["content"]["body"] if e["type"] == "TextBlock"]
    assert all("[click](" not in t for t in texts), "the card renders Markdown: no link from an endpoint id"
    assert "\\[click\\](" in texts[0]
    replay = bodies["/hook"][0]["details"]["replay"]
    assert "--db" not in replay, "the default store needs no --db"
    assert shlex.split(replay)[-2] == endpoint, "the endpoint id is quoted for the shell"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://hooks:s3cr3t-pw@db.internal/hooks",
            "postgresql+psycopg://hooks:***@db.internal/hooks",
        ),
        ("sqlite:////var/lib/hookconsole/store.db", "sqlite:////var/lib/hookconsole/store.db"),
    ],
)
def test_the_replay_line_names_the_store_without_its_password(url: str, shown: str) -> None:
    line = replay_line("ep_a", url)
    assert shlex.split(line) == ["hookconsole", "--db", shown, "replay", "--endpoint", "ep_a", "--dry-run"]
    assert "s3cr3t" not in line


def test_the_format_checks_catch_what_the_receivers_refuse() -> None:
    trigger = {
        "routing_key": PD_KEY,
        "event_action": "trigger",
        "dedup_key": "k" * 256,
        "payload": {"summary": "s" * 1025, "source": "", "severity": "page"},
    }
    assert len(pagerduty_problems(trigger)) == 4
    assert pagerduty_problems({"routing_key": PD_KEY, "event_action": "resolve"}) == [
        "resolve needs the dedup_key of the incident"
    ]
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    fields = {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}
    assert len(slack_problems({"text": "t", "blocks": [section, fields]})) == 2
    assert slack_problems({"blocks": []}) != []
    card = {"type": "AdaptiveCard", "version": "2.0", "body": [{"type": "Marquee"}]}
    attachment = {"contentType": "application/json", "content": card}
    assert len(teams_problems({"type": "message", "attachments": [attachment]})) == 3


def test_watch_once_names_its_store_in_the_replay_line_and_checks_routes(tmp_path: Path) -> None:
    log = tmp_path / "down.jsonl"
    log.write_bytes(b"".join(traffic("ep_down", 6, 503)))
    db = tmp_path / "store.db"
    with receiving() as receiver:
        alerts = tmp_path / "alerts.toml"
        alerts.write_text(
            '[[rule]]\nname = "endpoint-down"\nmetric = "success_rate"\nbelow = 0.5\nmin_attempts = 5\n\n'
            f'[[channel]]\nname = "hook"\nkind = "webhook"\nurl = "{receiver.url}"\n\n'
            '[[route]]\nendpoint = "ep_*"\nchannels = ["hook"]\n'
        )
        checked = run("alerts", "check", str(alerts))
        assert checked.exit_code == 0 and "1 rule(s), 1 channel(s), 1 route(s), ok" in checked.stdout
        result = run("--db", f"sqlite:///{db}", "watch", str(log), "--alerts", str(alerts), "--once")
        assert result.exit_code == 3, result.stderr
        (firing,) = receiver.bodies()
    words = shlex.split(firing["details"]["replay"])
    assert words[:3] == ["hookconsole", "--db", f"sqlite:///{db}"], "watch was given a store of its own"
