"""alerts.toml: alert rules and notification channels, parsed into frozen values.

Every problem is one line naming the file, the rule or channel, and the key.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from console.domain.endpoint import Scheme
from console.domain.times import MS_PER_DAY, bounded_duration_ms
from console.endpoints import resolve_secret, secret_format_problem, url_problem
from console.tomlconfig import (
    NOT_A_REF,
    ConfigError,
    Problems,
    is_secret_ref,
    parse_tables,
    parse_toml,
    read_toml,
    unknown_sections,
)


class AlertsError(ConfigError):
    """alerts.toml cannot be used; `problems` lists every reason, one line each."""


class Metric(StrEnum):
    """What a threshold rule judges, per endpoint (docs/alerts.md defines each)."""

    SUCCESS_RATE = "success_rate"
    FIRST_ATTEMPT_SUCCESS_RATE = "first_attempt_success_rate"
    UNDELIVERED = "undelivered"
    OLDEST_UNDELIVERED_AGE_S = "oldest_undelivered_age_s"
    LATENCY_P95_MS = "latency_p95_ms"
    BURN_RATE = "burn_rate"
    SOURCE_SILENCE_S = "source_silence_s"  # kind = "source_stalled": per followed source, not per endpoint


BACKLOG_METRICS = frozenset({Metric.UNDELIVERED, Metric.OLDEST_UNDELIVERED_AGE_S})
# Metrics with no window of store figures (backlog: now; a source's silence: watch's own record of batches).
WINDOWLESS_METRICS = BACKLOG_METRICS | {Metric.SOURCE_SILENCE_S}
# The longest window, `for`, `repeat`, `long` or `short` a rule may give: a year's figures, leap day included.
MAX_DURATION_DAYS = 366


@dataclass(frozen=True)
class Rule:
    """One `[[rule]]`. A threshold rule fires when `metric` is below/above `threshold` over `window_ms`;
    a burn-rate rule when the error budget of `slo` burns at least `threshold` (the factor) times too fast over
    both `window_ms` (long) and `short_ms`."""

    name: str
    endpoint: str  # "*" or one endpoint id
    metric: Metric
    threshold: float
    above: bool
    window_ms: int
    min_attempts: int = 1
    for_ms: int = 0
    repeat_ms: int | None = None
    slo: float | None = None
    short_ms: int | None = None
    severity: str | None = None  # routes match on it; PagerDuty takes it over the channel's
    floor_ms: int | None = None  # source_stalled: the shortest silence that can count as stalled

    @property
    def per_source(self) -> bool:
        """A source_stalled rule: judged per followed source (`endpoint` holds its source glob)."""
        return self.metric is Metric.SOURCE_SILENCE_S

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.above else value < self.threshold


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    PAGERDUTY = "pagerduty"
    TEAMS = "teams"
    COMMAND = "command"


PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True)
class Channel:
    """One `[[channel]]`: where notifications go. Secrets are references (`env:`/`file:`), resolved at send."""

    name: str
    kind: ChannelKind
    url: str | None = None
    secret_ref: str | None = None  # webhook: sign with Standard Webhooks
    routing_key_ref: str | None = None  # pagerduty
    severity: str = "error"  # pagerduty
    command: tuple[str, ...] = ()
    timeout_s: float = 10.0


def _glob(pattern: str | None, value: str) -> bool:
    return pattern is None or fnmatch.fnmatchcase(value, pattern)


@dataclass(frozen=True)
class Route:
    """One `[[route]]`: notifications whose endpoint (or source), rule and severity all match go to `channels`.
    Patterns are globs (`*`, `?`, `[...]`), matched case-sensitively; a matcher left out matches everything.
    Routes are tried in file order; the first match ends the search unless it says `continue = true`."""

    name: str
    channels: tuple[str, ...]
    endpoint: str | None = None
    rule: str | None = None
    severity: str | None = None
    continue_: bool = False

    def matches(self, rule: str, endpoint_id: str, severity: str) -> bool:
        return _glob(self.endpoint, endpoint_id) and _glob(self.rule, rule) and _glob(self.severity, severity)


@dataclass(frozen=True)
class AlertsConfig:
    path: Path | None
    rules: tuple[Rule, ...]
    channels: tuple[Channel, ...]
    routes: tuple[Route, ...] = ()
    default_channels: tuple[str, ...] | None = None  # `default_channels = [...]`; None: every channel

    def channels_for(self, rule: str, endpoint_id: str, severity: str) -> tuple[Channel, ...]:
        """Where a notification goes: without routes, every channel; with routes, the channels of the first
        matching route (and of the routes after it while each match says `continue`), else the default."""
        if not self.routes:
            return self.channels
        names: list[str] = []
        matched = False
        for route in self.routes:
            if route.matches(rule, endpoint_id, severity):
                matched = True
                names.extend(n for n in route.channels if n not in names)
                if not route.continue_:
                    break
        if not matched:
            if self.default_channels is None:
                return self.channels
            names = list(self.default_channels)
        return tuple(c for c in self.channels if c.name in names)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()


RULE_KEYS = {
    "name",
    "endpoint",
    "metric",
    "below",
    "above",
    "window",
    "min_attempts",
    "for",
    "repeat",
    "kind",
    "severity",
}
BURN_KEYS = {
    "name",
    "endpoint",
    "kind",
    "slo",
    "long",
    "short",
    "factor",
    "min_attempts",
    "for",
    "repeat",
    "severity",
}
STALLED_KEYS = {"name", "kind", "source", "factor", "min_gap", "window", "for", "repeat", "severity"}
ROUTE_KEYS = {"name", "endpoint", "rule", "severity", "channels", "continue"}
RULE_KINDS = ("threshold", "burn_rate", "source_stalled")
CHANNEL_KEYS = {
    ChannelKind.WEBHOOK: {"kind", "name", "url", "secret", "timeout_s"},
    ChannelKind.SLACK: {"kind", "name", "url", "timeout_s"},
    ChannelKind.PAGERDUTY: {"kind", "name", "url", "routing_key", "severity", "timeout_s"},
    ChannelKind.TEAMS: {"kind", "name", "url", "timeout_s"},
    ChannelKind.COMMAND: {"kind", "name", "command", "timeout_s"},
}
PD_SEVERITIES = ("critical", "error", "warning", "info")


def load_alerts(path: Path | str) -> AlertsConfig:
    """Read and validate alerts.toml; raises AlertsError listing every problem."""
    path = Path(path)
    return _alerts_of(read_toml(path, AlertsError, "no such alerts file"), path)


def parse_alerts(text: str, path: Path | None = None) -> AlertsConfig:
    name = str(path) if path is not None else "alerts.toml"
    return _alerts_of(parse_toml(text, name, AlertsError), path)


def _alerts_of(raw: dict[str, Any], path: Path | None) -> AlertsConfig:
    name = str(path) if path is not None else "alerts.toml"
    raw = dict(raw)
    has_default = "default_channels" in raw
    default = raw.pop("default_channels", None)
    problems = unknown_sections(raw, name, ("rule", "channel", "route"))
    rules = parse_tables(raw, name, "rule", "name", _parse_rule, problems)
    channels = parse_tables(raw, name, "channel", "name", _parse_channel, problems)
    routes = parse_tables(raw, name, "route", "name", _parse_route, problems)
    known = {c.name for c in channels or ()}
    default_channels = None
    if has_default:
        default_channels = _channel_names(
            default, known, "default_channels", lambda m: problems.append(f"{name}: {m}")
        )
    for route in routes or ():
        for missing in (n for n in route.channels if n not in known):
            problems.append(
                f"{name}: route {route.name!r}: channels: no channel named {missing!r} (channels: {', '.join(sorted(known)) or 'none'})"
            )
    if problems or rules is None or channels is None or routes is None:
        raise AlertsError(problems)
    return AlertsConfig(path, tuple(rules), tuple(channels), tuple(routes), default_channels)


def _channel_names(
    value: Any, known: set[str] | None, key: str, problem: Callable[[str], None]
) -> tuple[str, ...] | None:
    """A list of channel names; with `known`, each must be a `[[channel]]`'s name."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        problem(f'{key}: must be a non-empty list of channel names, like ["ops-slack"], got {value!r}')
        return None
    for missing in (v for v in value if known is not None and v not in known):
        problem(f"{key}: no channel named {missing!r} (channels: {', '.join(sorted(known or ())) or 'none'})")
    return tuple(value)


def _pattern(table: dict[str, Any], key: str, found: Problems) -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        found.add(key, f'must be a non-empty string (an exact value or a glob like "ep_pay*"), got {value!r}')
        return None
    return value


def _parse_route(table: dict[str, Any], index: int, found: Problems) -> Route | None:
    _unknown(table, ROUTE_KEYS, found)
    name = table.get("name", f"route-{index}")
    if not isinstance(name, str) or not name.strip():
        found.add("name", "must be a non-empty string")
    endpoint, rule, severity = (_pattern(table, k, found) for k in ("endpoint", "rule", "severity"))
    if "channels" not in table:
        found.add("channels", 'missing (required: the channel names this route sends to, like ["ops-slack"])')
        channels = None
    else:
        channels = _channel_names(
            table["channels"], None, "channels", lambda m: found.lines.append(f"{found.where}: {m}")
        )
    go_on = table.get("continue", False)
    if not isinstance(go_on, bool):
        found.add("continue", f"must be true or false, got {go_on!r}")
    if found.lines or channels is None:
        return None
    return Route(str(name), channels, endpoint, rule, severity, bool(go_on))


def _duration(table: dict[str, Any], key: str, found: Problems, default: int | None) -> int | None:
    if key not in table:
        return default
    try:
        return bounded_duration_ms(table[key], MAX_DURATION_DAYS * MS_PER_DAY)
    except ValueError as exc:  # the options' wording: `must be ..., got '5x'`
        found.add(key, str(exc))
        return None


def _number(table: dict[str, Any], key: str, found: Problems, low: float, high: float) -> float | None:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        found.add(key, f"must be a number between {low:g} and {high:g}, got {value!r}")
        return None
    return float(value)


def _unknown(table: dict[str, Any], known: set[str], found: Problems) -> None:
    for key in sorted(set(table) - known):
        if key == "default_channels":  # TOML puts a key written after a table into that table
            found.add(key, "a top-level key: write it before the first [[rule]], [[channel]] or [[route]]")
        else:
            found.add(key, f"unknown key (known: {', '.join(sorted(known))})")


def _parse_rule(table: dict[str, Any], index: int, found: Problems) -> Rule | None:
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        found.add("name", "missing or empty (every rule needs a name)")
    endpoint = table.get("endpoint", "*")
    if not isinstance(endpoint, str) or not endpoint.strip():
        found.add("endpoint", 'must be "*" or an endpoint id')
    min_attempts = table.get("min_attempts", 1)
    if isinstance(min_attempts, bool) or not isinstance(min_attempts, int) or min_attempts < 0:
        found.add("min_attempts", f"must be a whole number >= 0, got {min_attempts!r}")
    for_ms = _duration(table, "for", found, 0)
    repeat_ms = _duration(table, "repeat", found, None)
    if repeat_ms is not None and repeat_ms <= 0:
        found.add("repeat", "must be longer than 0s")
    severity = table.get("severity")
    if severity is not None and severity not in PD_SEVERITIES:
        found.add("severity", f"must be one of {', '.join(PD_SEVERITIES)}, got {severity!r}")
    kind = table.get("kind", "threshold")
    if kind == "source_stalled":
        return _stalled_rule(table, found, name, for_ms, repeat_ms, severity)
    if kind == "burn_rate":
        rule = _burn_rule(table, found, name, endpoint, min_attempts, for_ms, repeat_ms)
        return None if rule is None else replace(rule, severity=severity)
    if kind != "threshold":
        found.add("kind", f"must be one of {', '.join(RULE_KINDS)} (default threshold), got {kind!r}")
        return None
    _unknown(table, RULE_KEYS, found)
    metric = table.get("metric")
    threshold_metrics = [m.value for m in Metric if m is not Metric.BURN_RATE]
    if metric not in threshold_metrics:
        found.add("metric", f"must be one of {', '.join(threshold_metrics)}, got {metric!r}")
    if ("below" in table) == ("above" in table):
        found.add("below", "give exactly one of below = N or above = N")
        threshold = None
    else:
        key = "above" if "above" in table else "below"
        threshold = _number(table, key, found, 0, 1e12)
    window_ms = _duration(table, "window", found, 5 * 60_000)
    if window_ms is not None and window_ms < 60_000:
        found.add("window", "must be at least 1m (the rollups count by the minute)")
    if found.lines or threshold is None or window_ms is None or for_ms is None:
        return None
    return Rule(
        name=str(name),
        endpoint=str(endpoint),
        metric=Metric(str(metric)),
        threshold=threshold,
        above="above" in table,
        window_ms=window_ms,
        min_attempts=int(min_attempts),
        for_ms=for_ms,
        repeat_ms=repeat_ms,
        severity=severity,
    )


def _stalled_rule(
    table: dict[str, Any],
    found: Problems,
    name: Any,
    for_ms: int | None,
    repeat_ms: int | None,
    severity: Any,
) -> Rule | None:
    """`kind = "source_stalled"`: a followed source silent for longer than `factor` x its median gap between
    batches over `window` (at least `min_gap`)."""
    _unknown(table, STALLED_KEYS, found)
    source = _pattern(table, "source", found) or "*"
    factor = _number(table, "factor", found, 1.0, 1000.0) if "factor" in table else 5.0
    floor_ms = _duration(table, "min_gap", found, 60_000)
    if floor_ms is not None and floor_ms < 1000:
        found.add("min_gap", "must be at least 1s")
    window_ms = _duration(table, "window", found, 60 * 60_000)
    if window_ms is not None and window_ms < 60_000:
        found.add("window", "must be at least 1m (the batches whose gaps make the usual gap)")
    if found.lines or factor is None or floor_ms is None or window_ms is None or for_ms is None:
        return None
    return Rule(
        name=str(name),
        endpoint=source,
        metric=Metric.SOURCE_SILENCE_S,
        threshold=factor,
        above=True,
        window_ms=window_ms,
        min_attempts=0,
        for_ms=for_ms,
        repeat_ms=repeat_ms,
        severity=severity,
        floor_ms=floor_ms,
    )


def _burn_rule(
    table: dict[str, Any],
    found: Problems,
    name: Any,
    endpoint: Any,
    min_attempts: Any,
    for_ms: int | None,
    repeat_ms: int | None,
) -> Rule | None:
    _unknown(table, BURN_KEYS, found)
    slo = _number(table, "slo", found, 0.0, 1.0)
    if slo is not None and not 0 < slo < 1:
        found.add("slo", f"must be between 0 and 1 (exclusive), like 0.999, got {slo!r}")
    factor = _number(table, "factor", found, 0.0, 1e6) if "factor" in table else 14.4
    long_ms = _duration(table, "long", found, 60 * 60_000)
    short_ms = _duration(table, "short", found, 5 * 60_000)
    if long_ms is not None and short_ms is not None:
        if short_ms < 60_000:
            found.add("short", "must be at least 1m (the rollups count by the minute)")
        elif long_ms <= short_ms:
            found.add("long", "must be longer than short")
    if found.lines or slo is None or factor is None or long_ms is None or short_ms is None or for_ms is None:
        return None
    return Rule(
        name=str(name),
        endpoint=str(endpoint),
        metric=Metric.BURN_RATE,
        threshold=factor,
        above=True,
        window_ms=long_ms,
        min_attempts=int(min_attempts),
        for_ms=for_ms,
        repeat_ms=repeat_ms,
        slo=slo,
        short_ms=short_ms,
    )


def _ref(table: dict[str, Any], key: str, found: Problems) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not is_secret_ref(value):
        found.add(key, NOT_A_REF)
        return None
    return str(value)


def _parse_channel(table: dict[str, Any], index: int, found: Problems) -> Channel | None:
    kind = table.get("kind")
    if kind not in {k.value for k in ChannelKind}:
        found.add("kind", f"must be one of {', '.join(k.value for k in ChannelKind)}, got {kind!r}")
        return None
    kind = ChannelKind(kind)
    _unknown(table, CHANNEL_KEYS[kind], found)
    name = table.get("name", f"{kind.value}-{index}")
    if not isinstance(name, str) or not name.strip():
        found.add("name", "must be a non-empty string")
    timeout_s = _number(table, "timeout_s", found, 0.1, 300) if "timeout_s" in table else 10.0
    url = table.get("url", PAGERDUTY_URL if kind is ChannelKind.PAGERDUTY else None)
    if kind is not ChannelKind.COMMAND:
        if url is None:
            found.add("url", "missing (required)")
        else:
            reason = url_problem(url)
            if reason:
                found.add("url", reason)
    secret_ref = _ref(table, "secret", found) if kind is ChannelKind.WEBHOOK else None
    routing_ref = None
    severity = "error"
    if kind is ChannelKind.PAGERDUTY:
        if "routing_key" not in table:
            found.add("routing_key", "missing (required: env:NAME or file:PATH)")
        routing_ref = _ref(table, "routing_key", found)
        severity = table.get("severity", "error")
        if severity not in PD_SEVERITIES:
            found.add("severity", f"must be one of {', '.join(PD_SEVERITIES)}, got {severity!r}")
    command: tuple[str, ...] = ()
    if kind is ChannelKind.COMMAND:
        raw = table.get("command")
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw or not all(isinstance(a, str) and a for a in raw):
            found.add("command", "must be a program path or a list [program, arg, ...]")
        else:
            command = tuple(raw)
    if found.lines or timeout_s is None:
        return None
    return Channel(
        name=str(name),
        kind=kind,
        url=url,
        secret_ref=secret_ref,
        routing_key_ref=routing_ref,
        severity=str(severity),
        command=command,
        timeout_s=timeout_s,
    )


def check_alerts(
    path: Path | str, env: Mapping[str, str] | None = None
) -> tuple[AlertsConfig | None, list[str]]:
    """Everything `alerts check` reports: structure problems, then secret references that do not resolve."""
    try:
        config = load_alerts(path)
    except AlertsError as exc:
        return None, exc.problems
    problems: list[str] = []
    for channel in config.channels:
        for key, ref in (("secret", channel.secret_ref), ("routing_key", channel.routing_key_ref)):
            if ref is None:
                continue
            try:
                secret = resolve_secret(ref, config.base_dir, env)
            except LookupError as exc:
                problems.append(f"{path}: channel {channel.name!r}: {key}: {ref}: {exc}")
                continue
            if key == "secret":
                problem = secret_format_problem(Scheme.STANDARD, secret)
                if problem:
                    problems.append(f"{path}: channel {channel.name!r}: {key}: {ref}: {problem}")
    return config, problems
