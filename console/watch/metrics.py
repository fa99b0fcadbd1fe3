"""Prometheus metrics: the store's running totals and state at scrape time, and `watch`'s own workings.

Counters come from `metric_total` (console/store/totals.py): attempts counted as they reach the store, so they
never go down (prunes and restarts leave them alone) and late history is counted apart (`late_attempts_total`)
instead of looking like traffic; a scrape costs the attempts that arrived since the previous one, never the
history. Gauges are timestamps, not ages (`time() - x` in PromQL). No windowed ratio is precomputed: PromQL
takes `rate()` of the counters. Labels are endpoints, outcomes, reasons, rules, channels and sources: bounded
sets, never event ids. docs/alerts.md lists every metric.
"""

from __future__ import annotations

import contextlib
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol
from wsgiref.simple_server import WSGIServer, make_server

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, _get_best_family, _SilentHandler, make_wsgi_app
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from console import __version__
from console.domain.alerts import AlertState
from console.domain.gaps import DEFAULT_MAX_TRIES
from console.domain.outcomes import Outcome
from console.domain.times import now_ms
from console.store import Store
from console.store.alerts import backlog_by_endpoint, load_states, outbox_backlog
from console.store.totals import LE_SECONDS, EndpointSeries, RunningTotals
from console.watch.logs import Log

OUTCOMES = tuple(o.value for o in Outcome)
NOTIFICATION_RESULTS = ("delivered", "failed", "given_up")


class RuleLike(Protocol):
    name: str
    endpoint: str


def _le_label(bound: float) -> str:
    return repr(bound)


def histogram_buckets(counts: Sequence[int]) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs from per-`le` counts (+Inf last)."""
    out: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip((*(_le_label(b) for b in LE_SECONDS), "+Inf"), counts, strict=True):
        running += count
        out.append((bound, running))
    return out


def _counter(name: str, doc: str, totals: dict[str, EndpointSeries], series: str) -> Metric:
    family = CounterMetricFamily(name, doc, labels=["endpoint"])
    for endpoint_id, t in sorted(totals.items()):
        family.add_metric([endpoint_id], t.get(series))
    return family


def _by_prefix(name: str, doc: str, label: str, totals: dict[str, EndpointSeries], prefix: str) -> Metric:
    family = CounterMetricFamily(name, doc, labels=["endpoint", label])
    for endpoint_id, t in sorted(totals.items()):
        keys = sorted(k for k in t.values if k.startswith(prefix))
        for key in keys:
            family.add_metric([endpoint_id, key.removeprefix(prefix)], t.values[key])
    return family


class StoreCollector(Collector):
    """Builds every store-backed metric family when scraped."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], int] = now_ms,
        source_lags: Callable[[], dict[str, float]] | None = None,
        rules: Callable[[], Iterable[RuleLike]] | None = None,
        channels: Callable[[], Iterable[str]] | None = None,
        active: Callable[[], bool] | None = None,
        max_tries: int = DEFAULT_MAX_TRIES,
    ) -> None:
        self.store = store
        self.clock = clock
        self.source_lags = source_lags
        self.rules = rules
        self.channels = channels
        self.active = active
        self.totals = RunningTotals(max_tries)

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        families = list(self._families())
        duration = GaugeMetricFamily(
            "hookconsole_scrape_duration_seconds", "How long this scrape took to read the store."
        )
        duration.add_metric([], time.perf_counter() - started)
        yield from families
        yield duration

    def _families(self) -> Iterator[Metric]:
        now = self.clock()
        totals = self.totals.read(self.store, now)
        backlog = backlog_by_endpoint(self.store)
        endpoints = sorted(set(totals) | set(backlog))
        for endpoint_id in endpoints:
            totals.setdefault(endpoint_id, EndpointSeries())

        attempts = CounterMetricFamily(
            "hookconsole_attempts",
            "Delivery attempts, counted when they reach the store (late history apart), by outcome.",
            labels=["endpoint", "outcome"],
        )
        late = CounterMetricFamily(
            "hookconsole_late_attempts",
            "Attempts that reached the store more than 15m older than the newest counted (backfills, old "
            "logs): history, not traffic; not in the other counters.",
            labels=["endpoint", "outcome"],
        )
        for endpoint_id, t in sorted(totals.items()):
            for outcome in OUTCOMES:
                attempts.add_metric([endpoint_id, outcome], t.get(f"attempts|{outcome}"))
                late.add_metric([endpoint_id, outcome], t.get(f"late|{outcome}"))
        yield attempts
        yield late
        yield _by_prefix(
            "hookconsole_attempt_failures",
            "Failed attempts by reason: status class (http_4xx, http_5xx) or transport error kind.",
            "reason",
            totals,
            "failures|",
        )
        yield _counter(
            "hookconsole_deliveries",
            "Deliveries (event x endpoint) first tried: counted when their first attempt reaches the store.",
            totals,
            "deliveries",
        )
        yield _counter(
            "hookconsole_deliveries_delivered_first_attempt",
            "Deliveries whose first attempt succeeded.",
            totals,
            "first_delivered",
        )
        yield _counter(
            "hookconsole_deliveries_delivered",
            "Deliveries that succeeded (at any attempt), counted at their first success.",
            totals,
            "delivered",
        )
        yield _counter(
            "hookconsole_deliveries_given_up",
            "Deliveries the dispatcher gave up: its last scheduled try (watch --max-tries) failed, none before "
            "it succeeded. A replay may still deliver them (deliveries_delivered counts that).",
            totals,
            "given_up",
        )
        duration = HistogramMetricFamily(
            "hookconsole_attempt_duration_seconds",
            "Attempt latency; bucket edges are inclusive (a 30 s timeout is in le=30).",
            labels=["endpoint"],
        )
        for endpoint_id, t in sorted(totals.items()):
            duration.add_metric(
                [endpoint_id], histogram_buckets(t.histogram()), t.get("latency_sum_ms") / 1000
            )
        yield duration

        undelivered = GaugeMetricFamily(
            "hookconsole_deliveries_undelivered",
            "Deliveries with no successful attempt yet.",
            labels=["endpoint"],
        )
        oldest = GaugeMetricFamily(
            "hookconsole_oldest_undelivered_timestamp_seconds",
            "First attempt time of the oldest undelivered delivery (no sample when none).",
            labels=["endpoint"],
        )
        for endpoint_id in endpoints:
            b = backlog.get(endpoint_id)
            undelivered.add_metric([endpoint_id], b.undelivered if b else 0)
            if b is not None and b.oldest_ms is not None:
                oldest.add_metric([endpoint_id], b.oldest_ms / 1000)
        yield undelivered
        yield oldest

        yield self._firing(endpoints)
        yield from self._outbox()

        seen = GaugeMetricFamily(
            "hookconsole_source_last_success_timestamp_seconds",
            "When a followed source was last wholly in the store: a database's last successful poll, a "
            "file's last moment with no line waiting. The label is the path, or the URL without credentials.",
            labels=["source"],
        )
        for source, lag_s in sorted((self.source_lags() if self.source_lags else {}).items()):
            seen.add_metric([source], now / 1000 - lag_s)
        yield seen

    def _firing(self, endpoints: list[str]) -> Metric:
        firing = GaugeMetricFamily(
            "hookconsole_alert_firing",
            "1 while watch's rule fires for the endpoint, else 0 (every configured rule x known endpoint).",
            labels=["rule", "endpoint"],
        )
        rules = list(self.rules()) if self.rules is not None else None
        states = load_states(self.store)
        values: dict[tuple[str, str], int] = {}
        for rule in rules or ():
            for endpoint_id in endpoints if rule.endpoint == "*" else [rule.endpoint]:
                values[(rule.name, endpoint_id)] = 0
        names = {r.name for r in rules} if rules is not None else None
        for key, row in states.items():
            if names is None or key[0] in names:
                values[key] = 1 if row.state is AlertState.FIRING else 0
        for (rule_name, endpoint_id), value in sorted(values.items()):
            firing.add_metric([rule_name, endpoint_id], value)
        return firing

    def _outbox(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            "hookconsole_outbox_pending",
            "Notifications waiting for their channel (0 for every configured one).",
            labels=["channel"],
        )
        oldest = GaugeMetricFamily(
            "hookconsole_outbox_oldest_pending_timestamp_seconds",
            "When the oldest notification still waiting for the channel was queued.",
            labels=["channel"],
        )
        backlog: dict[str, tuple[int, int | None]] = {
            c: (0, None) for c in (self.channels() if self.channels else ())
        }
        backlog.update(outbox_backlog(self.store))
        for channel, (count, oldest_ms) in sorted(backlog.items()):
            pending.add_metric([channel], count)
            if oldest_ms is not None:
                oldest.add_metric([channel], oldest_ms / 1000)
        yield pending
        yield oldest

        if self.active is not None:
            yield GaugeMetricFamily(
                "hookconsole_watch_active",
                "1 while this watch holds the store's lease (follows, evaluates, notifies), 0 on a standby.",
                value=1 if self.active() else 0,
            )


class ServiceMetrics(Collector):
    """`watch`'s own counters: evaluations, notification tries by channel and result, build info."""

    def __init__(self, channels: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self.evaluations = 0
        self.evaluation_failures = 0
        self.last_evaluation_s: float | None = None
        self.notifications = {(c, r): 0 for c in channels for r in NOTIFICATION_RESULTS}

    def evaluated(self, ok: bool) -> None:
        with self._lock:
            self.evaluations += 1
            if ok:
                self.last_evaluation_s = time.time()
            else:
                self.evaluation_failures += 1

    def notification(self, channel: str, result: str) -> None:
        """Count one try of a notification: `delivered`, `failed` (kept for a retry) or `given_up`."""
        with self._lock:
            self.notifications[(channel, result)] = self.notifications.get((channel, result), 0) + 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            evaluations, failures, last = self.evaluations, self.evaluation_failures, self.last_evaluation_s
            notifications = dict(self.notifications)
        info = GaugeMetricFamily(
            "hookconsole_build_info", "hookconsole's version (always 1).", labels=["version", "python"]
        )
        info.add_metric([__version__, platform.python_version()], 1)
        yield info
        family = CounterMetricFamily(
            "hookconsole_watch_evaluations", "Evaluations of the rules, failed ones included."
        )
        family.add_metric([], evaluations)
        yield family
        family = CounterMetricFamily(
            "hookconsole_watch_evaluation_failures", "Evaluations that failed as a whole (store busy, gone)."
        )
        family.add_metric([], failures)
        yield family
        gauge = GaugeMetricFamily(
            "hookconsole_watch_last_evaluation_timestamp_seconds", "When the rules were last evaluated whole."
        )
        if last is not None:
            gauge.add_metric([], last)
        yield gauge
        family = CounterMetricFamily(
            "hookconsole_notifications",
            "Tries of notifications by channel and result (delivered, failed and kept, given up).",
            labels=["channel", "result"],
        )
        for (channel, result), count in sorted(notifications.items()):
            family.add_metric([channel, result], count)
        yield family


def make_registry(
    store: Store, service: ServiceMetrics | None = None, **options: Any
) -> tuple[CollectorRegistry, StoreCollector]:
    """The store collector, `watch`'s own metrics when given, and the process collector (process_*)."""
    registry = CollectorRegistry(auto_describe=False)
    collector = StoreCollector(store, **options)
    registry.register(collector)
    with contextlib.suppress(
        Exception
    ):  # seed the totals now, not in a scrape; a failure is the scrape's to say
        collector.totals.read(store, collector.clock())
    if service is not None:
        registry.register(service)
    ProcessCollector(registry=registry)
    return registry, collector


def serve_metrics(registry: CollectorRegistry, host: str, port: int, log: Log) -> WSGIServer:
    """Serve /metrics in a daemon thread. A scrape that fails answers 500; the failure is logged on one line
    when it starts (and again for a new reason), and its end when a scrape works again."""
    app = make_wsgi_app(registry)
    failing: list[str] = []  # the current failure's reason, while scrapes fail

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            answer: Iterable[bytes] = app(environ, start_response)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"
            if failing != [reason]:
                failing[:] = [reason]
                log.error("metrics_failed", f"/metrics failed: {reason}; answering 500 until it works again")
            start_response("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"metrics unavailable; see the watch log\n"]
        if failing:
            failing.clear()
            log.info("metrics_recovered", "/metrics works again")
        return answer

    class Server(ThreadingWSGIServer):
        pass

    Server.address_family, address = _get_best_family(host, port)  # type: ignore[no-untyped-call]
    httpd = make_server(address, port, guarded, Server, handler_class=_SilentHandler)
    threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True).start()
    return httpd
