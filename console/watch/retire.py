"""At start-up, what the alerts file no longer names is dealt with, and logged:

- A rule no longer in the file (removed or renamed): each of its alerts still firing is resolved, a resolve
  notification going to the channels (still in the file) that were sent its firing one, so a PagerDuty incident
  closes; then every stored state of that rule is removed, so the console stops showing it. Its notifications
  already queued are still sent, before the resolution.
- A channel no longer in the file (removed or renamed): its waiting notifications are given up on (marked dead
  with the reason), since there is nowhere to send them; a renamed channel starts with an empty queue.

Without any rule or channel (watch with no alerts file) the stored alerts are left alone.
"""

from __future__ import annotations

from typing import Any

import orjson

from console.domain.alerts import AlertState, AlertStateRow
from console.domain.times import format_ms
from console.store import Store
from console.store.alert_retire import drop_pending, outbox_rows_of, pending_by_channel, retire_states
from console.store.alerts import load_states
from console.watch.logs import Log
from console.watch.rules import AlertsConfig
from console.watch.state import notification_id

SHOWN_IDS = 5


def _where(config: AlertsConfig) -> str:
    return str(config.path) if config.path is not None else "the alerts file"


def _resolution(fired: dict[str, Any], rule: str, endpoint_id: str, now_ms: int) -> dict[str, Any]:
    """The resolve notification of a firing alert whose rule is gone, from its firing notification."""
    return {
        **fired,
        "id": notification_id(rule, endpoint_id, AlertState.RESOLVED, now_ms),
        "state": AlertState.RESOLVED.value,
        "value": None,
        "at": format_ms(now_ms),
        "reminder": False,
        "summary": f"{endpoint_id}: {rule} resolved: the rule is not in the alerts file any more",
    }


def retire_removed_rules(store: Store, config: AlertsConfig, log: Log, now_ms: int) -> None:
    """Resolve the firing alerts of rules no longer configured and remove those rules' states."""
    if not config.rules and not config.channels:
        return
    names = {rule.name for rule in config.rules}
    gone = {key: row for key, row in load_states(store).items() if key[0] not in names}
    if not gone:
        return
    firing: dict[tuple[str, str], AlertStateRow] = {
        key: row for key, row in gone.items() if row.state is AlertState.FIRING
    }
    fired_ids = {
        key: notification_id(key[0], key[1], AlertState.FIRING, row.changed_ms) for key, row in firing.items()
    }
    sent: dict[str, list[tuple[str, bytes]]] = {}
    for channel, nid, body in outbox_rows_of(store, list(fired_ids.values())):
        sent.setdefault(nid, []).append((channel, body))
    configured = [channel.name for channel in config.channels]
    queued: list[tuple[str, str, bytes]] = []
    told: dict[tuple[str, str], list[str]] = {}
    for key in sorted(firing):
        rows = sent.get(fired_ids[key], [])
        told[key] = [name for name in configured if name in {channel for channel, _ in rows}]
        if told[key]:
            (_channel, fired_body), *_ = rows
            rule_name, endpoint_id = key
            resolved = _resolution(orjson.loads(fired_body), rule_name, endpoint_id, now_ms)
            queued += [(name, resolved["id"], orjson.dumps(resolved)) for name in told[key]]
    retire_states(store, list(gone), queued, now_ms)
    where = _where(config)
    for (rule, endpoint_id), channels in told.items():
        outcome = (
            f"resolved (sent to {', '.join(channels)})"
            if channels
            else "resolved (no channel in the file was sent its firing notification)"
        )
        log.warning(
            "alert_retired",
            f"{endpoint_id}: {rule} is not in {where} any more; {outcome} and its state removed",
            rule=rule,
            endpoint=endpoint_id,
        )
    others = sorted({rule for rule, endpoint_id in gone if (rule, endpoint_id) not in firing})
    if others:
        shown = ", ".join(others[:10]) + (f" (+{len(others) - 10} more)" if len(others) > 10 else "")
        log.info(
            "rules_retired",
            f"stored states of rules not in {where} any more removed: {shown}",
            rules=others,
        )


def drop_removed_channels(store: Store, config: AlertsConfig, log: Log) -> None:
    """Give up on the notifications waiting for channels no longer configured, one log line per channel."""
    if not config.rules and not config.channels:
        return
    configured = {channel.name for channel in config.channels}
    for channel, count in sorted(pending_by_channel(store).items()):
        if channel in configured:
            continue
        reason = f"channel {channel} is not in {_where(config)} any more"
        ids = drop_pending(store, channel, reason, SHOWN_IDS)
        more = ", ..." if count > len(ids) else ""
        log.warning(
            "notifications_dropped",
            f"{reason}: {count} notification(s) not sent ({', '.join(ids)}{more})",
            channel=channel,
            notifications=count,
        )
