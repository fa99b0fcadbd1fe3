"""The alert state machine per (rule, endpoint), kept in the store: ok -> pending -> firing -> resolved.

One notification when an alert fires, one when it resolves, none in between (a reminder every `repeat` if the
rule asks). A state change and its notifications are written in one transaction, so a restart neither repeats
a notification already queued nor forgets an alert that resolved while the process was down: the first
evaluation after the restart sees the stored `firing` and a condition that no longer holds, and resolves it.
A (rule, endpoint) that is not judged (too few attempts) keeps its state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from console.domain import formatting as fmt
from console.domain.alerts import AlertState, AlertStateRow, Backlog
from console.domain.times import format_ms
from console.store import Store
from console.store.alerts import load_states, save_transitions
from console.watch.details import incident_details
from console.watch.evaluate import Observation, evaluate
from console.watch.rules import BACKLOG_METRICS, WINDOWLESS_METRICS, Channel, Metric, Rule
from console.watch.stalled import SourceActivity

# Where a notification goes: (rule, endpoint or source, severity) -> channels (AlertsConfig.channels_for).
Router = Callable[[str, str, str], tuple[Channel, ...]]


@dataclass(frozen=True)
class Notification:
    """A state change worth telling: `body` is the JSON every channel renders from."""

    id: str
    rule: str
    endpoint_id: str
    state: AlertState  # firing or resolved
    body: dict[str, Any]
    reminder: bool = False

    @property
    def summary(self) -> str:
        return str(self.body["summary"])


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}"


def _window_text(ms: int) -> str:
    """`5m`, `1h`, `90s`: a rule's window as it would be written in alerts.toml."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def summary_text(rule: Rule, obs: Observation, state: AlertState, since_ms: int | None, now_ms: int) -> str:
    """One readable sentence: which endpoint, what broke (or recovered), since when, how much is undelivered."""
    if rule.per_source:
        return _stalled_text(rule, obs, state, since_ms, now_ms)
    if rule.metric is Metric.BURN_RATE:
        what = (
            f"error budget of SLO {rule.slo:g} burning {_fmt(obs.value)}x (threshold {rule.threshold:g}x) "
            f"over {_window_text(rule.window_ms)} and {_window_text(rule.short_ms or 0)}"
        )
    else:
        relation = "above" if rule.above else "below"
        window = "" if rule.metric in BACKLOG_METRICS else (f" over {_window_text(rule.window_ms)}")
        what = f"{rule.metric.value} {_fmt(obs.value)} {relation} {rule.threshold:g}{window}"
    backlog = f"{obs.undelivered} undelivered"
    if state is AlertState.FIRING:
        started = f" since {format_ms(since_ms)}" if since_ms is not None else ""
        return f"{obs.endpoint_id}: {rule.name} firing: {what}{started}; {backlog}"
    lasted = f" after {fmt.age(since_ms, now_ms)}" if since_ms is not None else ""
    current = f"{rule.metric.value} now {_fmt(obs.value)}"
    return f"{obs.endpoint_id}: {rule.name} resolved{lasted}: {current}; {backlog}"


def _stalled_text(rule: Rule, obs: Observation, state: AlertState, since_ms: int | None, now_ms: int) -> str:
    silent = fmt.duration((obs.value or 0) * 1000)
    if state is AlertState.FIRING:
        usual = f"usual gap {fmt.duration(obs.usual * 1000)}, " if obs.usual is not None else ""
        limit = fmt.duration((obs.limit or 0) * 1000)
        started = f" since {format_ms(since_ms)}" if since_ms is not None else ""
        return f"{obs.endpoint_id}: {rule.name} firing: nothing read for {silent} ({usual}limit {limit}){started}"
    lasted = f" after {fmt.age(since_ms, now_ms)}" if since_ms is not None else ""
    return f"{obs.endpoint_id}: {rule.name} resolved{lasted}: reading again (last batch {silent} ago)"


def notification_id(rule: str, endpoint_id: str, state: AlertState, at_ms: int) -> str:
    """The id of the notification of `rule` on `endpoint_id` going to `state` at `at_ms` (a firing one's is
    therefore known from its stored state: it fired at the state's `changed_ms`)."""
    digest = hashlib.sha256(f"{rule}\0{endpoint_id}\0{state.value}\0{at_ms}".encode()).hexdigest()
    return f"alert_{digest[:24]}"


def _notification(
    rule: Rule, obs: Observation, state: AlertState, since_ms: int | None, now_ms: int, reminder: bool
) -> Notification:
    nid = notification_id(rule.name, obs.endpoint_id, state, now_ms)
    body: dict[str, Any] = {
        "id": nid,
        "rule": rule.name,
        "endpoint": obs.endpoint_id,
        "state": state.value,
        "metric": rule.metric.value,
        "value": None if obs.value is None else round(obs.value, 6),
        "threshold": rule.threshold,
        "window_s": None if rule.metric in WINDOWLESS_METRICS else rule.window_ms // 1000,
        "since": format_ms(since_ms) if since_ms is not None else None,
        "at": format_ms(now_ms),
        "undelivered": obs.undelivered,
        "reminder": reminder,
        "severity": rule.severity,
        "summary": summary_text(rule, obs, state, since_ms, now_ms),
    }
    if rule.per_source:
        body["source"] = obs.endpoint_id
        body["limit"] = None if obs.limit is None else round(obs.limit, 3)
        body["usual_gap_s"] = None if obs.usual is None else round(obs.usual, 3)
    return Notification(nid, rule.name, obs.endpoint_id, state, body, reminder)


def step(
    obs: Observation, prev: AlertStateRow | None, now_ms: int
) -> tuple[AlertStateRow | None, Notification | None]:
    """The next state of one (rule, endpoint) and the notification it sends; (None, None) when nothing changes."""
    rule = obs.rule
    current = prev or AlertStateRow(rule.name, obs.endpoint_id, AlertState.OK, changed_ms=now_ms)
    if not obs.judged:
        return None, None
    if obs.breached:
        if current.state in (AlertState.OK, AlertState.RESOLVED):
            pending = replace(
                current, state=AlertState.PENDING, since_ms=now_ms, changed_ms=now_ms, value=obs.value
            )
            if rule.for_ms > 0:
                return pending, None
            current = pending
        if current.state is AlertState.PENDING:
            since = current.since_ms if current.since_ms is not None else now_ms
            if now_ms - since < rule.for_ms:
                return None, None
            fired = replace(
                current, state=AlertState.FIRING, changed_ms=now_ms, notified_ms=now_ms, value=obs.value
            )
            return fired, _notification(rule, obs, AlertState.FIRING, since, now_ms, False)
        # firing: a reminder only when the rule asks for one
        last = current.notified_ms if current.notified_ms is not None else current.changed_ms
        if rule.repeat_ms is not None and now_ms - last >= rule.repeat_ms:
            reminded = replace(current, notified_ms=now_ms, value=obs.value)
            return reminded, _notification(rule, obs, AlertState.FIRING, current.since_ms, now_ms, True)
        return None, None
    if current.state is AlertState.FIRING:
        resolved = replace(
            current, state=AlertState.RESOLVED, changed_ms=now_ms, notified_ms=now_ms, value=obs.value
        )
        return resolved, _notification(rule, obs, AlertState.RESOLVED, current.since_ms, now_ms, False)
    if current.state is AlertState.PENDING:
        return replace(current, state=AlertState.OK, since_ms=None, changed_ms=now_ms, value=obs.value), None
    return None, None


@dataclass(frozen=True)
class EvaluationResult:
    """What one evaluation found: every observation, the notifications it queued, what is firing now, and the
    rules that could not be judged this time (name: why; their states are kept as they were)."""

    observations: tuple[Observation, ...]
    notifications: tuple[Notification, ...]
    firing: tuple[tuple[str, str], ...]
    failed: dict[str, str] = field(default_factory=dict)


def run_evaluation(
    store: Store,
    rules: tuple[Rule, ...],
    channels: tuple[Channel, ...],
    now_ms: int,
    *,
    route: Router | None = None,
    sources: Mapping[str, SourceActivity] | None = None,
    db_url: str | None = None,
) -> EvaluationResult:
    """Evaluate every rule, advance the state machines and queue notifications, atomically: each to the channels
    `route` names (every channel without one). A firing notification of an endpoint carries its incident details
    (console/watch/details.py; `db_url` for the replay line); `sources` are the followed sources' batches."""
    names = {r.name for r in rules}
    stored = {key: row for key, row in load_states(store).items() if key[0] in names}
    known: dict[str, list[str]] = {}
    for rule_name, endpoint_id in stored:
        known.setdefault(rule_name, []).append(endpoint_id)
    evaluation = evaluate(store, rules, now_ms, known, sources)
    observations = evaluation.observations
    changed: list[AlertStateRow] = []
    notifications: list[Notification] = []
    states = dict(stored)
    for obs in observations:
        key = (obs.rule.name, obs.endpoint_id)
        row, notification = step(obs, stored.get(key), now_ms)
        if row is not None:
            changed.append(row)
            states[key] = row
        if notification is not None:
            if notification.state is AlertState.FIRING and not obs.rule.per_source:
                backlog = Backlog(obs.endpoint_id, obs.undelivered, obs.oldest_undelivered_ms)
                notification.body["details"] = incident_details(
                    store, obs.rule, obs.endpoint_id, backlog, now_ms, db_url
                )
            notifications.append(notification)
    severity = {r.name: r.severity or "" for r in rules}
    queued = [
        (channel.name, n.id, orjson.dumps(n.body))
        for n in notifications
        for channel in (route(n.rule, n.endpoint_id, severity[n.rule]) if route else channels)
    ]
    save_transitions(store, changed, queued, now_ms)
    firing = tuple(sorted(key for key, row in states.items() if row.state is AlertState.FIRING))
    return EvaluationResult(tuple(observations), tuple(notifications), firing, evaluation.failed)
