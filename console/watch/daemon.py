"""`hookconsole watch`: follow sources into the store, evaluate the rules every `every_s`, deliver the outbox and
serve metrics, until `stop` is set.

Threads: one follower per file (console/ingest/follow.py), one for the outbox (an asyncio loop), the metrics
HTTP server's, and the caller's thread evaluating. On stop the followers write what they read, the state is
already in the store (every evaluation commits its transitions), and a notification in flight stays queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from prometheus_client.exposition import start_http_server

from console.domain.alerts import AlertState
from console.domain.times import now_ms
from console.ingest.follow import follow
from console.ingest.service import IngestSummary, RejectSink, ingest_sources
from console.ingest.sources import SourceError
from console.store import Store
from console.store.alerts import ensure_alert_tables
from console.watch.channels import ChannelSender
from console.watch.logs import Log
from console.watch.metrics import make_registry
from console.watch.outbox import OUTBOX_POLICY, OutboxDelivery
from console.watch.rules import AlertsConfig
from console.watch.state import EvaluationResult, run_evaluation

EXIT_OK, EXIT_ERROR, EXIT_FIRING = 0, 1, 3
OUTBOX_POLL_S = 0.2
ONCE_SEND_TIMEOUT_S = 30.0


class WatchError(Exception):
    """The service cannot start (a port in use, say); the message says what and where."""


@dataclass(frozen=True)
class WatchOptions:
    sources: Sequence[str] = ()
    every_s: float = 10.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    follow_poll_s: float = 0.2
    follow_flush_s: float = 1.0
    retry_cap_s: float = OUTBOX_POLICY.cap_s  # the longest wait between tries of a failing channel


@dataclass
class _Follower:
    """One followed file and when it last caught up (for `hookconsole_source_lag_seconds`)."""

    path: str
    thread: threading.Thread | None = None
    flushed_at: float = field(default_factory=time.time)
    summary: IngestSummary | None = None

    def lag_s(self) -> float:
        """Seconds since the last write of what the file held then: 0 when nothing newer sits in the file."""
        try:
            modified = os.stat(self.path).st_mtime
        except OSError:
            return 0.0
        if modified <= self.flushed_at:
            return 0.0
        return max(0.0, time.time() - self.flushed_at)


def _log_evaluation(log: Log, result: EvaluationResult) -> None:
    for n in result.notifications:
        event = "alert_reminder" if n.reminder else f"alert_{n.state.value}"
        log_call = log.warning if n.state is AlertState.FIRING else log.info
        log_call(event, n.summary, rule=n.rule, endpoint=n.endpoint_id, notification=n.id)


class Watcher:
    """The composed service; `run` blocks until `stop` is set, `once` evaluates a single time."""

    def __init__(self, store: Store, config: AlertsConfig, options: WatchOptions, log: Log) -> None:
        self.store = store
        self.config = config
        self.options = options
        self.log = log
        self.followers = [_Follower(str(Path(p))) for p in options.sources]
        ensure_alert_tables(store)

    def evaluate(self) -> EvaluationResult:
        result = run_evaluation(self.store, self.config.rules, self.config.channels, now_ms())
        _log_evaluation(self.log, result)
        return result

    def once(self) -> int:
        """Ingest the sources once, evaluate, try what is due in the outbox; exit 3 when a rule fires."""
        if self.options.sources:
            summary = ingest_sources(self.store, list(self.options.sources), rejects=RejectSink())
            for failure in summary.failed_sources:
                self.log.error("source_error", failure)
            if summary.failed_sources:
                return EXIT_ERROR
        result = self.evaluate()
        asyncio.run(self._deliver_once())
        for rule, endpoint_id in result.firing:
            self.log.info("alert_firing", f"{endpoint_id}: {rule} is firing", rule=rule, endpoint=endpoint_id)
        return EXIT_FIRING if result.firing else EXIT_OK

    async def _deliver_once(self) -> None:
        sender = ChannelSender(self.config)
        try:
            delivery = self._delivery(sender)
            await asyncio.wait_for(delivery.deliver_due(), ONCE_SEND_TIMEOUT_S)
        except TimeoutError:
            self.log.warning(
                "channel_failing", "notifications still pending after 30s; kept for the next run"
            )
        finally:
            await sender.aclose()

    def _delivery(self, sender: ChannelSender) -> OutboxDelivery:
        policy = replace(
            OUTBOX_POLICY,
            cap_s=self.options.retry_cap_s,
            base_s=min(OUTBOX_POLICY.base_s, self.options.retry_cap_s),
        )
        return OutboxDelivery(self.store, self.config, sender, self.log, policy=policy)

    def _rule_names(self) -> set[str]:
        return {r.name for r in self.config.rules}

    def _lags(self) -> dict[str, float]:
        return {f.path: f.lag_s() for f in self.followers}

    def run(self, stop: threading.Event, on_ready: Callable[[int | None], None] | None = None) -> int:
        """Run until `stop` is set; returns the exit code."""
        server = None
        port = None
        if self.options.metrics_port is not None:
            registry, _ = make_registry(self.store, source_lags=self._lags, rule_names=self._rule_names)
            try:
                server, _thread = start_http_server(
                    self.options.metrics_port, self.options.metrics_host, registry
                )
            except OSError as exc:
                where = f"{self.options.metrics_host}:{self.options.metrics_port}"
                raise WatchError(f"cannot serve metrics on {where}: {exc.strerror or exc}") from None
            port = int(server.server_port)
            host = self.options.metrics_host
            shown = f"[{host}]" if ":" in host else host
            self.log.info("metrics_serving", f"serving metrics on http://{shown}:{port}/metrics", port=port)
        for follower in self.followers:
            follower.thread = threading.Thread(
                target=self._follow, args=(follower, stop), name=f"follow {follower.path}", daemon=True
            )
            follower.thread.start()
        outbox_thread = threading.Thread(target=self._outbox_loop, args=(stop,), name="outbox", daemon=True)
        outbox_thread.start()
        self.log.info(
            "watch_started",
            f"watching {len(self.followers)} source(s), {len(self.config.rules)} rule(s), "
            f"{len(self.config.channels)} channel(s), every {self.options.every_s:g}s",
        )
        if on_ready is not None:
            on_ready(port)
        code = EXIT_OK
        try:
            while not stop.is_set():
                try:
                    self.evaluate()
                except Exception as exc:  # a bad moment (store busy, gone) must not end the service
                    self.log.error("evaluation_failed", f"evaluation failed: {type(exc).__name__}: {exc}")
                stop.wait(self.options.every_s)
        finally:
            stop.set()
            for follower in self.followers:
                if follower.thread is not None:
                    follower.thread.join(timeout=10)
            outbox_thread.join(timeout=5)
            if server is not None:
                server.shutdown()
                server.server_close()
            self.log.info("watch_stopped", "stopped; what was read and the alert state are in the store")
        return code

    def _follow(self, follower: _Follower, stop: threading.Event) -> None:
        def flushed(summary: IngestSummary) -> None:
            follower.flushed_at = time.time()
            follower.summary = summary

        try:
            follow(
                self.store,
                follower.path,
                stop,
                poll_s=self.options.follow_poll_s,
                flush_s=self.options.follow_flush_s,
                on_flush=flushed,
            )
        except SourceError as exc:
            self.log.error("source_error", str(exc), source=follower.path)
        except Exception as exc:
            self.log.error(
                "source_error", f"{follower.path}: {type(exc).__name__}: {exc}", source=follower.path
            )

    def _outbox_loop(self, stop: threading.Event) -> None:
        asyncio.run(self._outbox(stop))

    async def _outbox(self, stop: threading.Event) -> None:
        sender = ChannelSender(self.config)
        delivery = self._delivery(sender)
        try:
            while not stop.is_set():
                task = asyncio.ensure_future(delivery.deliver_due())
                while not task.done():
                    await asyncio.wait({task}, timeout=OUTBOX_POLL_S)
                    if stop.is_set() and not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                        return
                try:
                    task.result()
                except Exception as exc:
                    self.log.error("outbox_failed", f"outbox delivery failed: {type(exc).__name__}: {exc}")
                await asyncio.sleep(OUTBOX_POLL_S)
        finally:
            await sender.aclose()
