"""Judge each rule per endpoint from the same figures `stats` shows: rollups for windows, the undelivered index
for backlog. One `read_stats` per distinct window, one backlog query, whatever the number of rules.

- success_rate: successful attempts / attempts in the window (`stats --json`: outcomes.success / attempts).
- first_attempt_success_rate: first attempts that succeeded / first attempts in the window.
- latency_p95_ms: the 95th percentile of attempt latency in the window.
- undelivered, oldest_undelivered_age_s: the endpoint's backlog now, whenever first tried (no window).
- burn_rate: attempt error rate / (1 - slo), the smaller of the long and the short window's.
- source_silence_s (kind source_stalled): per followed source, seconds since its last batch, judged against a
  limit of its own (console/watch/stalled.py); no store figures.

Rates and latency are judged only with at least `min_attempts` attempts (first attempts for the first-attempt
rate) in the window; backlog metrics are always judged.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from console.domain.alerts import Backlog
from console.domain.filters import DeliveryFilter
from console.domain.kpis import Kpis
from console.store import Store
from console.store.alerts import backlog_by_endpoint
from console.store.stats import read_stats
from console.watch.rules import BACKLOG_METRICS, WINDOWLESS_METRICS, Metric, Rule
from console.watch.stalled import SourceActivity, judge_silence


@dataclass(frozen=True)
class Observation:
    """A rule's metric for one endpoint at one evaluation; `value` is None when not judged."""

    rule: Rule
    endpoint_id: str
    value: float | None
    attempts: int
    undelivered: int
    oldest_undelivered_ms: int | None
    limit: float | None = None  # a limit of this endpoint's (source's) own, over the rule's threshold
    usual: float | None = None  # source_stalled: the source's usual gap between batches, seconds

    @property
    def judged(self) -> bool:
        return self.value is not None

    @property
    def breached(self) -> bool:
        if self.value is None:
            return False
        return self.value > self.limit if self.limit is not None else self.rule.breached(self.value)


def _burn(k: Kpis | None, slo: float) -> float | None:
    if k is None or k.attempts == 0:
        return None
    return (k.failures / k.attempts) / (1.0 - slo)


def _value(
    rule: Rule, k: Kpis | None, short: Kpis | None, backlog: Backlog | None, now_ms: int
) -> float | None:
    if rule.metric is Metric.UNDELIVERED:
        return float(backlog.undelivered if backlog else 0)
    if rule.metric is Metric.OLDEST_UNDELIVERED_AGE_S:
        oldest = backlog.oldest_ms if backlog else None
        return 0.0 if oldest is None else float(max(0, (now_ms - oldest) // 1000))
    need = max(rule.min_attempts, 1)
    if rule.metric is Metric.BURN_RATE:
        assert rule.slo is not None
        if short is None or short.attempts < need:
            return None
        long_burn, short_burn = _burn(k, rule.slo), _burn(short, rule.slo)
        return None if long_burn is None or short_burn is None else min(long_burn, short_burn)
    if k is None:
        return None
    if rule.metric is Metric.FIRST_ATTEMPT_SUCCESS_RATE:
        return k.first_attempt_success_rate if k.first_attempts >= need else None
    if k.attempts < need:
        return None
    if rule.metric is Metric.SUCCESS_RATE:
        return k.successes / k.attempts
    return k.latency.p95  # LATENCY_P95_MS; None when no attempt had a latency


@dataclass(frozen=True)
class Evaluation:
    """Every (rule, endpoint) judged, and the rules that could not be judged this time (name: why)."""

    observations: list[Observation]
    failed: dict[str, str]


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def evaluate(
    store: Store,
    rules: tuple[Rule, ...],
    now_ms: int,
    known: Mapping[str, Iterable[str]] | None = None,
    sources: Mapping[str, SourceActivity] | None = None,
) -> Evaluation:
    """Every (rule, endpoint) the rules cover, judged at `now_ms`; `known` endpoints per rule name, such as those
    with a stored state, are judged too even without figures (a backlog that drained is judged 0). A
    source_stalled rule judges each of `sources` (label: its batches) its `endpoint` glob matches.

    A rule that cannot be judged (its window's figures cannot be read, its value cannot be computed) is in
    `failed`; the other rules are judged all the same. Linear in rules x endpoints."""
    windows = {r.window_ms for r in rules if r.metric not in WINDOWLESS_METRICS}
    windows |= {r.short_ms for r in rules if r.short_ms is not None}
    by_window: dict[int, dict[str, Kpis]] = {}
    unreadable: dict[int, str] = {}
    for window in sorted(windows):
        try:
            snapshot = read_stats(store, DeliveryFilter(since_ms=now_ms - window))
        except Exception as exc:  # this window's rules fail; the others go on
            unreadable[window] = _error(exc)
            continue
        by_window[window] = {e.endpoint_id: e.kpis for e in snapshot.endpoints}
    backlog = backlog_by_endpoint(store) if any(not r.per_source for r in rules) else {}
    observations: list[Observation] = []
    failed: dict[str, str] = {}
    for rule in rules:
        needed = [w for w in (rule.window_ms, rule.short_ms) if w is not None and w in unreadable]
        if needed and rule.metric not in WINDOWLESS_METRICS:
            failed[rule.name] = unreadable[needed[0]]
            continue
        try:
            if rule.per_source:
                observations.extend(_judge_sources(rule, sources or {}, now_ms))
                continue
            observations.extend(_judge(rule, by_window, backlog, (known or {}).get(rule.name, ()), now_ms))
        except Exception as exc:
            failed[rule.name] = _error(exc)
    return Evaluation(observations, failed)


def _judge(
    rule: Rule,
    by_window: dict[int, dict[str, Kpis]],
    backlog: dict[str, Backlog],
    known: Iterable[str],
    now_ms: int,
) -> list[Observation]:
    figures = by_window.get(rule.window_ms, {})
    short = by_window.get(rule.short_ms, {}) if rule.short_ms is not None else {}
    if rule.endpoint != "*":
        endpoints = [rule.endpoint]
    else:
        seen = set(backlog) if rule.metric in BACKLOG_METRICS else set(figures)
        endpoints = sorted(seen.union(known))
    observations = []
    for endpoint_id in endpoints:
        b = backlog.get(endpoint_id)
        k = figures.get(endpoint_id)
        observations.append(
            Observation(
                rule=rule,
                endpoint_id=endpoint_id,
                value=_value(rule, k, short.get(endpoint_id), b, now_ms),
                attempts=k.attempts if k else 0,
                undelivered=b.undelivered if b else 0,
                oldest_undelivered_ms=b.oldest_ms if b else None,
            )
        )
    return observations


def _judge_sources(rule: Rule, sources: Mapping[str, SourceActivity], now_ms: int) -> list[Observation]:
    """A source_stalled rule on every followed source its glob takes (a source not followed now is not judged:
    its stored state stays as it was)."""
    observations = []
    for label in sorted(sources):
        if not fnmatch.fnmatchcase(label, rule.endpoint):
            continue
        silence = judge_silence(rule, sources[label].times(), now_ms)
        if silence is None or silence.limit_s is None:
            observations.append(Observation(rule, label, None, 0, 0, None))
            continue
        observations.append(
            Observation(rule, label, silence.silence_s, 0, 0, None, silence.limit_s, silence.usual_gap_s)
        )
    return observations
