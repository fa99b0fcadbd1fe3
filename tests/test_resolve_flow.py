"""After an outage, on a real store with a real receiver: replay with skip-superseded, then resolve the superseded
deliveries it left out: the backlog is 0 and an `oldest_undelivered_age_s` alert resolves."""

from __future__ import annotations

import asyncio
from pathlib import Path

from console.domain.alerts import AlertState
from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ItemState, ReplaySelection
from console.domain.resolutions import SUPERSEDED
from console.domain.times import format_ms, now_ms
from console.endpoints import load_endpoints
from console.ingest.service import ingest_sources
from console.replay.service import ReplayService
from console.store import Store
from console.store.live import undelivered_backlog
from console.store.resolutions import history, resolve_superseded
from console.watch.rules import parse_alerts
from console.watch.state import run_evaluation
from tests.helpers import log_line, write_jsonl
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MINUTE = 60_000


def _line(event_id: str, reward: str, at_ms: int, status: int, attempt: int = 1) -> dict[str, object]:
    at = format_ms(at_ms).replace(".000Z", "Z")
    line = log_line(event_id, "ep_a", attempt, status_code=status, attempted_at=at)
    if attempt == 1:
        line["payload"] = {
            "event_id": event_id,
            "user_id": "u1",
            "reward_id": reward,
            "amount": 500,
            "timestamp": at,
        }
    return line


def test_replay_skip_superseded_then_resolve_them_clears_the_backlog_and_the_alert(
    store: Store, tmp_path: Path
) -> None:
    now = now_ms()
    lines = [
        _line("evt_old", "r1", now - 30 * MINUTE, 500),  # superseded: evt_new (same reward) got through
        _line("evt_new", "r1", now - 20 * MINUTE, 500),
        _line("evt_new", "r1", now - 19 * MINUTE, 200, attempt=2),
        _line("evt_other", "r2", now - 25 * MINUTE, 500),
    ]
    ingest_sources(store, [str(write_jsonl(tmp_path / "outage.jsonl", lines))])
    config = parse_alerts(
        '[[rule]]\nname = "old-backlog"\nmetric = "oldest_undelivered_age_s"\nabove = 600\n\n'
        '[[channel]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/x"\n'
    )
    fired = run_evaluation(store, config.rules, config.channels, now)
    assert [(n.rule, n.state) for n in fired.notifications] == [("old-backlog", AlertState.FIRING)]

    receiver = IndependentReceiver({"ep_a": ("standard", SECRET)})
    selection = ReplaySelection(
        DeliveryFilter(state=DeliveryState.UNDELIVERED, include_resolved=False), skip_superseded=True
    )
    with serve_app(receiver) as port:
        service = ReplayService(
            store,
            load_endpoints(write_endpoints(tmp_path, port, [EndpointSpec("ep_a", "standard", (SECRET,))])),
        )
        view = asyncio.run(
            asyncio.wait_for(service.start(service.create_job(service.plan(selection))).run(), 30)
        )
    assert (view.count(ItemState.DELIVERED), view.count(ItemState.SKIPPED)) == (1, 1)
    assert undelivered_backlog(store) == (1, now - 30 * MINUTE)  # evt_old, left out as superseded
    still = run_evaluation(store, config.rules, config.channels, now + MINUTE)
    assert still.notifications == ()  # still firing

    done = resolve_superseded(store, selection, operator="oncall@host", now_ms=now + 2 * MINUTE)
    assert done.per_endpoint == {"ep_a": 1}
    assert undelivered_backlog(store) == (0, None)
    assert [(h.operator, h.reason) for h in history(store, "evt_old")] == [("oncall@host", SUPERSEDED)]
    cleared = run_evaluation(store, config.rules, config.channels, now + 3 * MINUTE)
    assert [(n.rule, n.state) for n in cleared.notifications] == [("old-backlog", AlertState.RESOLVED)]
    # nothing superseded is left to resolve, and a second replay has nothing to send
    assert resolve_superseded(store, selection, operator="x", now_ms=now).total == 0
    assert service.plan(selection).to_send == 0
