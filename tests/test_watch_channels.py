"""Notification channels over real loopback HTTP and a real program: webhook down then up, slack, pagerduty,
command."""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from pathlib import Path

import orjson

from console.domain.times import now_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.alerts import pending_outbox
from console.watch.channels import ChannelSender
from console.watch.daemon import Watcher, WatchOptions
from console.watch.logs import Log
from console.watch.outbox import OutboxDelivery
from console.watch.rules import AlertsConfig, parse_alerts
from console.watch.state import run_evaluation
from tests.watch_support import alerts_toml, append, free_port, receiving, traffic, wait_for

RULE = '[[rule]]\nname = "endpoint-down"\nmetric = "success_rate"\nbelow = 0.5\nmin_attempts = 5\n\n'


def test_a_channel_down_then_up_loses_nothing_and_keeps_order(sqlite_store: Store, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet: connection refused
    config = parse_alerts(alerts_toml(f"http://127.0.0.1:{port}/alerts"))
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"")
    stream = io.StringIO()
    options = WatchOptions(sources=[str(log)], every_s=0.2, retry_cap_s=0.3, follow_flush_s=0.2)
    watcher = Watcher(sqlite_store, config, options, Log(stream))
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        append(log, traffic("ep_down", 8, 500))
        assert wait_for(lambda: "channel webhook-1 failed (connection refused)" in stream.getvalue())
        append(log, traffic("ep_down", 20, 200))
        assert wait_for(lambda: len(pending_outbox(sqlite_store)) == 2), (
            "fired and resolved while the channel is down"
        )
        with receiving(port) as receiver:
            assert wait_for(lambda: len(receiver.bodies()) == 2)
            assert wait_for(lambda: pending_outbox(sqlite_store) == [])
            assert [b["state"] for b in receiver.bodies()] == ["firing", "resolved"]
            assert "channel webhook-1 is delivering again" in stream.getvalue()
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def _fire_and_resolve(
    store: Store,
    tmp_path: Path,
    config: AlertsConfig,
    env: dict[str, str] | None = None,
    endpoint_id: str = "ep_down",
) -> None:
    """Fire then resolve one alert, delivering the outbox after each step."""
    sender = ChannelSender(config, env)
    delivery = OutboxDelivery(store, config, sender, Log(io.StringIO()))

    async def deliver() -> None:
        try:
            await delivery.deliver_due()
        finally:
            await sender.aclose()

    for name, lines in (
        ("down.jsonl", traffic(endpoint_id, 6, 503)),
        ("back.jsonl", traffic(endpoint_id, 20, 200)),
    ):
        path = tmp_path / name
        path.write_bytes(b"".join(lines))
        ingest_sources(store, [str(path)])
        run_evaluation(store, config.rules, config.channels, now_ms())
        asyncio.run(deliver())


def test_slack_gets_a_readable_text(store: Store, tmp_path: Path) -> None:
    with receiving() as slack:
        config = parse_alerts(RULE + f'[[channel]]\nkind = "slack"\nurl = "{slack.url}"\n')
        _fire_and_resolve(store, tmp_path, config)
        texts = [b["text"] for b in slack.bodies()]
    assert len(texts) == 2 and all(set(b) == {"text", "blocks"} for b in slack.bodies())
    assert "*endpoint-down* FIRING on `ep_down`" in texts[0]
    assert "6 undelivered" in texts[0] and "since 20" in texts[0]
    assert "RESOLVED on `ep_down`" in texts[1]
    agents = {headers.get("User-Agent") or headers.get("user-agent") for _, headers, _ in slack.received}
    assert agents == {"hookconsole/0.1 (+alerts)"}  # not the replay sender's "(+replay)"


def test_pagerduty_triggers_and_resolves_with_one_dedup_key(store: Store, tmp_path: Path) -> None:
    key = "R0UT1NGKEY0123456789abcdefABCDEF"
    with receiving() as pagerduty:
        config = parse_alerts(
            RULE + f'[[channel]]\nkind = "pagerduty"\nurl = "{pagerduty.url}"\nrouting_key = "env:PD_KEY"\n'
        )
        _fire_and_resolve(store, tmp_path, config, env={"PD_KEY": key})
        trigger, resolve = pagerduty.bodies()
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "hookconsole/endpoint-down/ep_down"
    assert trigger["routing_key"] == resolve["routing_key"] == key
    assert trigger["payload"]["severity"] == "error" and "ep_down" in trigger["payload"]["summary"]
    with store.read() as conn:
        stored = " ".join(r[0] for r in conn.exec_driver_sql("SELECT body FROM alert_outbox").all())
    assert key not in stored, "the routing key is resolved at send time and never stored"


def test_pagerduty_without_its_key_keeps_the_notification(sqlite_store: Store, tmp_path: Path) -> None:
    with receiving() as pagerduty:
        config = parse_alerts(
            RULE + f'[[channel]]\nkind = "pagerduty"\nurl = "{pagerduty.url}"\nrouting_key = "env:PD_KEY"\n'
        )
        _fire_and_resolve(sqlite_store, tmp_path, config, env={})
        assert pagerduty.bodies() == []
    pending = pending_outbox(sqlite_store)
    assert len(pending) == 2 and "environment variable PD_KEY is not set" in (pending[0].last_error or "")


def test_command_gets_the_json_on_stdin(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "notes.jsonl"
    script = tmp_path / "note.py"
    script.write_text(f"import sys\nopen({str(out)!r}, 'ab').write(sys.stdin.buffer.read() + b'\\n')\n")
    config = parse_alerts(
        RULE + f'[[channel]]\nkind = "command"\ncommand = ["{sys.executable}", "{script}"]\n'
    )
    _fire_and_resolve(store, tmp_path, config)
    notes = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(n["rule"], n["endpoint"], n["state"]) for n in notes] == [
        ("endpoint-down", "ep_down", "firing"),
        ("endpoint-down", "ep_down", "resolved"),
    ]
    assert set(notes[0]) >= {
        "rule",
        "endpoint",
        "state",
        "metric",
        "value",
        "threshold",
        "window_s",
        "since",
        "at",
        "summary",
    }


def test_a_failing_command_is_retried_not_dropped(sqlite_store: Store, tmp_path: Path) -> None:
    config = parse_alerts(
        RULE
        + f'[[channel]]\nkind = "command"\ncommand = ["{sys.executable}", "-c", "import sys; sys.exit(2)"]\n'
    )
    _fire_and_resolve(sqlite_store, tmp_path, config)
    pending = pending_outbox(sqlite_store)
    assert len(pending) == 2 and pending[0].tries >= 1 and "exited 2" in (pending[0].last_error or "")


def test_the_demo_alerts_file_is_valid_and_its_command_logs(tmp_path: Path) -> None:
    from console.demo import write_alerts

    (tmp_path / "logs").mkdir()
    path = write_alerts(tmp_path)
    config = parse_alerts(path.read_text(), path)
    (channel,) = config.channels
    sender = ChannelSender(config)
    result = asyncio.run(sender.try_send(channel, "alert_1", b'{"state": "firing"}'))
    assert result.ok, result.error
    assert orjson.loads((tmp_path / "logs" / "alerts.jsonl").read_bytes()) == {"state": "firing"}
