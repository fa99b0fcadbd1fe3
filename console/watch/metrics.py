"""Prometheus metrics read from the store at scrape time: the figures `stats --json` shows, never the history.

A scrape reads the hour rollups (all-time totals, older hours kept between scrapes: console/store/totals.py),
the minute rollups of the last hour, the undelivered index and the alert state, so its cost stays flat as
history grows. Labels are endpoints, outcomes, windows, rules and sources: bounded sets, never event ids.

The latency histogram maps the rollups' fine buckets (5% wide) onto `LE_SECONDS`, each fine bucket counted at
its geometric midpoint, the value the rollups' percentiles read it as.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from console.domain.alerts import AlertState
from console.domain.filters import DeliveryFilter
from console.domain.latency import midpoint
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE, now_ms
from console.store import Store
from console.store.alerts import backlog_by_endpoint, load_states
from console.store.stats import read_stats
from console.store.totals import TotalsCache

LE_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RATIO_WINDOWS = (("5m", 5 * MS_PER_MINUTE), ("1h", MS_PER_HOUR))
OUTCOMES = ("success", "http_error", "timeout", "network_error")


def _le_index(bucket: int) -> int:
    value_s = midpoint(bucket) / 1000
    for index, bound in enumerate(LE_SECONDS):
        if value_s <= bound:
            return index
    return len(LE_SECONDS)


_LE_OF_BUCKET: dict[int, int] = {}


def histogram_buckets(hist: dict[int, int]) -> list[tuple[str, float]]:
    """Cumulative Prometheus buckets (le, count) from a rollup histogram, ending with +Inf."""
    counts = [0] * (len(LE_SECONDS) + 1)
    for bucket, count in hist.items():
        index = _LE_OF_BUCKET.get(bucket)
        if index is None:
            index = _LE_OF_BUCKET[bucket] = _le_index(bucket)
        counts[index] += count
    out: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip((*(repr(b) for b in LE_SECONDS), "+Inf"), counts, strict=True):
        running += count
        out.append((bound, running))
    return out


class StoreCollector(Collector):
    """Builds every metric family from the store when scraped."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], int] = now_ms,
        source_lags: Callable[[], dict[str, float]] | None = None,
        rule_names: Callable[[], set[str]] | None = None,
        active: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.source_lags = source_lags
        self.rule_names = rule_names
        self.active = active
        self.totals = TotalsCache()

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        totals = self.totals.read(self.store, now)
        backlog = backlog_by_endpoint(self.store)
        endpoints = sorted(set(totals) | set(backlog))

        attempts = CounterMetricFamily(
            "hookconsole_attempts",
            "Stored delivery attempts, by endpoint and outcome.",
            labels=["endpoint", "outcome"],
        )
        for endpoint_id, t in sorted(totals.items()):
            for outcome, value in zip(
                OUTCOMES, (t.successes, t.http_errors, t.timeouts, t.network_errors), strict=True
            ):
                attempts.add_metric([endpoint_id, outcome], value)
        yield attempts

        undelivered = GaugeMetricFamily(
            "hookconsole_deliveries_undelivered",
            "Deliveries with no successful attempt yet.",
            labels=["endpoint"],
        )
        oldest = GaugeMetricFamily(
            "hookconsole_oldest_undelivered_age_seconds",
            "Age of the first attempt of the oldest undelivered delivery (0 when none).",
            labels=["endpoint"],
        )
        for endpoint_id in endpoints:
            b = backlog.get(endpoint_id)
            undelivered.add_metric([endpoint_id], b.undelivered if b else 0)
            age = 0 if b is None or b.oldest_ms is None else max(0, (now - b.oldest_ms) // 1000)
            oldest.add_metric([endpoint_id], age)
        yield undelivered
        yield oldest

        duration = HistogramMetricFamily(
            "hookconsole_attempt_duration_seconds",
            "Attempt latency, from the rollups' latency histograms.",
            labels=["endpoint"],
        )
        for endpoint_id, t in sorted(totals.items()):
            duration.add_metric([endpoint_id], histogram_buckets(t.hist), t.latency_sum_ms / 1000)
        yield duration

        ratio = GaugeMetricFamily(
            "hookconsole_endpoint_success_ratio",
            "Successful attempts / attempts in the trailing window (minute resolution, as stats --since).",
            labels=["endpoint", "window"],
        )
        for label, width in RATIO_WINDOWS:
            snapshot = read_stats(self.store, DeliveryFilter(since_ms=now - width))
            for e in snapshot.endpoints:
                if e.kpis.attempts:
                    ratio.add_metric([e.endpoint_id, label], e.kpis.successes / e.kpis.attempts)
        yield ratio

        firing = GaugeMetricFamily(
            "hookconsole_alert_firing",
            "1 while the rule fires for the endpoint, else 0.",
            labels=["rule", "endpoint"],
        )
        names = self.rule_names() if self.rule_names is not None else None
        for (rule, endpoint_id), row in sorted(load_states(self.store).items()):
            if names is None or rule in names:
                firing.add_metric([rule, endpoint_id], 1 if row.state is AlertState.FIRING else 0)
        yield firing

        lag = GaugeMetricFamily(
            "hookconsole_source_lag_seconds",
            "How far a followed source is behind its file.",
            labels=["source"],
        )
        for source, seconds in sorted((self.source_lags() if self.source_lags else {}).items()):
            lag.add_metric([source], seconds)
        yield lag

        if self.active is not None:
            yield GaugeMetricFamily(
                "hookconsole_watch_active",
                "1 while this watch holds the store's lease (follows, evaluates, notifies), 0 on a standby.",
                value=1 if self.active() else 0,
            )


def make_registry(store: Store, **options: Any) -> tuple[CollectorRegistry, StoreCollector]:
    """A registry holding only the store collector (no process or platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    collector = StoreCollector(store, **options)
    registry.register(collector)
    return registry, collector
