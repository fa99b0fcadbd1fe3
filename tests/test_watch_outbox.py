"""The outbox per channel: a channel's backlog never starves another, a slow channel never holds the others,
notifications of a channel no longer configured and states of a rule no longer configured are dealt with at
start-up, loudly. Real stores, real loopback receivers."""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path

import orjson

from console.domain.alerts import AlertState
from console.domain.times import now_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.alerts import firing_alerts, load_states, pending_outbox, save_transitions
from console.watch.channels import ChannelSender
from console.watch.daemon import EXIT_FIRING, Watcher, WatchOptions
from console.watch.logs import Log
from console.watch.outbox import OutboxDelivery
from console.watch.rules import AlertsConfig, parse_alerts
from console.watch.state import run_evaluation
from tests.watch_servers import answering
from tests.watch_support import free_port, receiving, traffic, wait_for


def _note(n: int) -> bytes:
    return orjson.dumps(
        {"id": f"alert_{n}", "rule": "r", "endpoint": "ep_a", "state": "firing", "summary": "s"}
    )


def _deliver(store: Store, config: AlertsConfig, stream: io.StringIO) -> int:
    sender = ChannelSender(config)

    async def deliver() -> int:
        try:
            return await OutboxDelivery(store, config, sender, Log(stream)).deliver_due()
        finally:
            await sender.aclose()

    return asyncio.run(deliver())


def test_a_long_queue_on_a_channel_that_is_down_does_not_starve_another(sqlite_store: Store) -> None:
    with receiving() as healthy:
        config = parse_alerts(
            f'[[channel]]\nname = "down"\nkind = "webhook"\nurl = "http://127.0.0.1:{free_port()}/x"\n\n'
            f'[[channel]]\nname = "healthy"\nkind = "webhook"\nurl = "{healthy.url}"\n'
        )
        queued = [("down", f"alert_{n}", _note(n)) for n in range(1001)]
        queued += [("healthy", f"alert_{n}", _note(n)) for n in range(250)]
        save_transitions(sqlite_store, [], queued, now_ms())
        stream = io.StringIO()
        assert _deliver(sqlite_store, config, stream) == 250
        assert [b["id"] for b in healthy.bodies()] == [f"alert_{n}" for n in range(250)], "all, in order"
    assert {item.channel for item in pending_outbox(sqlite_store, limit=5000)} == {"down"}
    assert "channel down failed (connection refused)" in stream.getvalue()


def test_notifications_of_a_channel_no_longer_configured_are_dropped_loudly(
    store: Store, tmp_path: Path
) -> None:
    with receiving() as renamed:
        save_transitions(store, [], [("ops", "alert_1", _note(1)), ("ops", "alert_2", _note(2))], now_ms())
        config = parse_alerts(f'[[channel]]\nname = "ops-new"\nkind = "webhook"\nurl = "{renamed.url}"\n')
        stream = io.StringIO()
        watcher = Watcher(store, config, WatchOptions(), Log(stream))
        assert watcher.once() == 0
        assert renamed.bodies() == [], "not sent anywhere else"
    assert pending_outbox(store) == []
    assert (
        "channel ops is not in the alerts file any more: 2 notification(s) not sent (alert_1, alert_2)"
        in stream.getvalue()
    )
    with store.read() as conn:
        rows = conn.exec_driver_sql("SELECT dead, last_error FROM alert_outbox ORDER BY seq").all()
    assert [(bool(dead), error) for dead, error in rows] == [
        (True, "channel ops is not in the alerts file any more")
    ] * 2


def test_a_slow_channel_does_not_hold_the_others(sqlite_store: Store) -> None:
    # the slow channel's answer drips for 5 s; its try ends at its 4 s deadline
    with answering(chunk=1, pause_s=0.1, limit=50) as slow, receiving() as fast:
        config = parse_alerts(
            f'[[channel]]\nname = "slow"\nkind = "webhook"\nurl = "{slow.url}"\ntimeout_s = 4\n\n'
            f'[[channel]]\nname = "fast"\nkind = "webhook"\nurl = "{fast.url}"\n'
        )
        watcher = Watcher(sqlite_store, config, WatchOptions(every_s=0.2), Log(io.StringIO()))
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        thread.start()
        try:
            save_transitions(
                sqlite_store, [], [("slow", "alert_1", _note(1)), ("fast", "alert_1", _note(1))], 1
            )
            assert wait_for(lambda: slow.started.is_set() and len(fast.bodies()) == 1, timeout=10)
            save_transitions(
                sqlite_store, [], [("slow", "alert_2", _note(2)), ("fast", "alert_2", _note(2))], 2
            )
            assert wait_for(lambda: len(fast.bodies()) == 2 or slow.finished() != [], timeout=10)
            assert len(fast.bodies()) == 2 and slow.finished() == [], "sent while the slow try goes on"
        finally:
            stop.set()
            thread.join(timeout=10)
        assert not thread.is_alive()


def test_a_rule_renamed_while_firing_is_resolved_where_it_fired(store: Store, tmp_path: Path) -> None:
    rule = '[[rule]]\nname = "{}"\nmetric = "success_rate"\nbelow = 0.5\nmin_attempts = 5\n\n'
    log = tmp_path / "down.jsonl"
    log.write_bytes(b"".join(traffic("ep_down", 6, 500)))
    ingest_sources(store, [str(log)])
    with receiving() as pager, receiving() as added:
        channel = f'[[channel]]\nname = "pager"\nkind = "webhook"\nurl = "{pager.url}"\n'
        before = parse_alerts(rule.format("endpoint-down") + rule.format("old-copy") + channel)
        run_evaluation(store, before.rules, before.channels, now_ms())
        assert _deliver(store, before, io.StringIO()) == 2
        extra = f'[[channel]]\nname = "added"\nkind = "webhook"\nurl = "{added.url}"\n'
        after = parse_alerts(rule.format("ep-down") + channel + extra, tmp_path / "alerts.toml")
        stream = io.StringIO()
        assert Watcher(store, after, WatchOptions(), Log(stream)).once() == EXIT_FIRING
        assert wait_for(lambda: len(pager.bodies()) == 5)
        sent = [(b["rule"], b["state"]) for b in pager.bodies()]
        assert sorted(sent[2:]) == [
            ("endpoint-down", "resolved"),
            ("ep-down", "firing"),
            ("old-copy", "resolved"),
        ]
        assert [(b["rule"], b["state"]) for b in added.bodies()] == [("ep-down", "firing")]
    resolved = next(b for b in pager.bodies() if b["rule"] == "endpoint-down" and b["state"] == "resolved")
    assert resolved["endpoint"] == "ep_down" and resolved["since"] == pager.bodies()[0]["since"]
    assert (
        resolved["summary"] == "ep_down: endpoint-down resolved: the rule is not in the alerts file any more"
    )
    assert [(a.rule, a.endpoint_id) for a in firing_alerts(store)] == [("ep-down", "ep_down")]
    assert set(load_states(store)) == {("ep-down", "ep_down")}
    text = stream.getvalue()
    assert "ep_down: endpoint-down is not in" in text and "resolved (sent to pager)" in text
    assert load_states(store)[("ep-down", "ep_down")].state is AlertState.FIRING
