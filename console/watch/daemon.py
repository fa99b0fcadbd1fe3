"""`hookconsole watch`: follow sources into the store, evaluate the rules every `every_s`, deliver the outbox and
serve metrics, until `stop` is set.

Any number of `watch` processes may run on one store: each serves metrics, and the one holding the store's
lease (console/watch/lease.py) does the rest; the others wait as standbys and take over when it dies.
Once active, the states of rules and the notifications of channels the alerts file no longer names are dealt
with (retire.py). Threads: one follower per source, file or dispatcher database (console/ingest/follower.py,
see followers.py), one for the outbox (an asyncio loop, a task per channel), the metrics HTTP server's, and the
caller's thread evaluating. On stop the followers write what they read (a database poll ends after its current
batch, whose cursor is written with it), the state is already in the store (every evaluation commits its
transitions), and a notification in flight stays queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from console.domain.alerts import AlertState
from console.domain.gaps import DEFAULT_MAX_TRIES
from console.domain.times import now_ms
from console.ingest.follower import Follower
from console.ingest.log_files import SourceError, display_name
from console.ingest.mapping import LogMapping
from console.ingest.service import ingest_sources
from console.sources import is_source_url
from console.store import Store, StoreError
from console.watch.channels import ChannelSender
from console.watch.followers import logged_rejects, watch_follower
from console.watch.lease import WatchLease
from console.watch.logs import Log
from console.watch.metrics import ServiceMetrics, make_registry, serve_metrics
from console.watch.outbox import OUTBOX_POLICY, OutboxDelivery
from console.watch.retire import drop_removed_channels, retire_removed_rules
from console.watch.rules import AlertsConfig
from console.watch.stalled import SourceActivity
from console.watch.state import EvaluationResult, run_evaluation

EXIT_OK, EXIT_ERROR, EXIT_FIRING = 0, 1, 3
OUTBOX_POLL_S = 0.2
ONCE_SEND_TIMEOUT_S = 30.0
# How long stopping waits for the followers; a poll still running is then abandoned (what it stored is stored
# with its cursor, so the next run goes on exactly from there).
STOP_JOIN_S = 3.0


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
    source_every_s: float = 2.0  # how often each database source is polled
    mapping: LogMapping | None = None  # file sources are mapped logs (ingest --map)
    retry_cap_s: float = OUTBOX_POLICY.cap_s  # the longest wait between tries of a failing channel
    db_url: str | None = None  # the store's URL, for the replay line of a notification (credentials masked)
    max_tries: int = (
        DEFAULT_MAX_TRIES  # the dispatcher's maximum attempts: "given up" after the last (metrics)
    )


def _rules_text(names: list[str]) -> str:
    shown = ", ".join(names[:10]) + (f" (+{len(names) - 10} more)" if len(names) > 10 else "")
    return f"rule{'s' if len(names) > 1 else ''} {shown}"


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
        self.files = [str(Path(p)) for p in options.sources if not is_source_url(p)]
        self.activity: dict[str, SourceActivity] = {}
        try:
            self.sources: list[Follower] = [
                watch_follower(
                    store,
                    source if is_source_url(source) else str(Path(source)),
                    log,
                    mapping=options.mapping,
                    every_s=options.source_every_s,
                    poll_s=options.follow_poll_s,
                    flush_s=options.follow_flush_s,
                    activity=self.activity,
                )
                for source in options.sources
            ]
        except SourceError as exc:
            raise WatchError(str(exc)) from None
        self.databases = [f for f, s in zip(self.sources, options.sources, strict=True) if is_source_url(s)]
        self.failing_rules: dict[str, str] = {}
        self.service = ServiceMetrics(c.name for c in config.channels)

    def evaluate(self) -> EvaluationResult:
        result = run_evaluation(
            self.store,
            self.config.rules,
            self.config.channels,
            now_ms(),
            route=self.config.channels_for,
            sources=self.activity,
            db_url=self.options.db_url,
        )
        _log_evaluation(self.log, result)
        self._log_failed_rules(result.failed)
        return result

    def _log_failed_rules(self, failed: dict[str, str]) -> None:
        """A rule that cannot be judged is logged when it starts failing and when it is judged again."""
        started: dict[str, list[str]] = {}
        for name, why in failed.items():
            if name not in self.failing_rules:
                started.setdefault(why, []).append(name)
        for why, names in started.items():
            self.log.error(
                "rule_failed",
                f"{_rules_text(names)} not evaluated: {why}; the other rules go on",
                rules=names,
            )
        back = sorted(set(self.failing_rules) - set(failed))
        if back:
            self.log.info("rule_recovered", f"{_rules_text(back)} evaluated again", rules=back)
        self.failing_rules = dict(failed)

    def tidy(self) -> None:
        """At start-up: resolve and forget the alerts of rules no longer configured, drop the notifications of
        channels no longer configured (console/watch/retire.py)."""
        retire_removed_rules(self.store, self.config, self.log, now_ms())
        drop_removed_channels(self.store, self.config, self.log)

    def once(self) -> int:
        """Ingest the sources once, evaluate, try what is due in the outbox; exit 3 when a rule fires. Only
        where no other `watch` holds the store's lease (exit 1 if one does: it notifies already)."""
        lease = WatchLease(self.store, self.log)
        try:
            if not lease.try_once():
                self.log.error(
                    "standby",
                    f"another watch holds the lease ({lease.lease.where}); --once evaluates only where none runs",
                )
                return EXIT_ERROR
        except StoreError as exc:
            raise WatchError(str(exc)) from None
        try:
            return self._once()
        finally:
            lease.release()

    def _once(self) -> int:
        failed = False
        if self.files:
            rejects = logged_rejects(self.log, ", ".join(display_name(p) for p in self.files))
            summary = ingest_sources(self.store, self.files, rejects=rejects, mapping=self.options.mapping)
            for failure in summary.failed_sources:
                self.log.error("source_error", failure)
            failed = bool(summary.failed_sources)
        for database in self.databases:
            failed = not database.once() or failed
        if failed:
            return EXIT_ERROR
        self.tidy()
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
                "channel_failing",
                f"notifications still pending after {ONCE_SEND_TIMEOUT_S:g}s; kept for the next run",
            )
        finally:
            await sender.aclose()

    def _delivery(self, sender: ChannelSender) -> OutboxDelivery:
        policy = replace(
            OUTBOX_POLICY,
            cap_s=self.options.retry_cap_s,
            base_s=min(OUTBOX_POLICY.base_s, self.options.retry_cap_s),
        )
        delivery = OutboxDelivery(self.store, self.config, sender, self.log, policy=policy)
        delivery.on_result = self.service.notification
        return delivery

    def _lags(self) -> dict[str, float]:
        return {f.label: f.feed.lag_s() for f in self.sources}

    def run(self, stop: threading.Event, on_ready: Callable[[int | None], None] | None = None) -> int:
        """Run until `stop` is set; returns the exit code. Serves metrics at once; follows, evaluates and
        notifies only while holding the store's lease (a standby until then, console/watch/lease.py)."""
        lease = WatchLease(self.store, self.log)
        server, port = self._serve_metrics(lease)
        try:
            if on_ready is not None:
                on_ready(port)
            try:
                if not lease.wait(stop, self.options.every_s):
                    return EXIT_OK
            except StoreError as exc:
                raise WatchError(str(exc)) from None
            return self._run_active(stop, lease)
        finally:
            lease.release()
            if server is not None:
                server.shutdown()
                server.server_close()
            self.log.info("watch_stopped", "stopped; what was read and the alert state are in the store")

    def _serve_metrics(self, lease: WatchLease) -> tuple[Any, int | None]:
        if self.options.metrics_port is None:
            return None, None
        registry, _ = make_registry(
            self.store,
            self.service,
            # a standby follows nothing: no source times to report (its followers never read)
            source_lags=lambda: self._lags() if lease.active else {},
            rules=lambda: self.config.rules,
            channels=lambda: [c.name for c in self.config.channels],
            active=lambda: lease.active,
            max_tries=self.options.max_tries,
        )
        try:
            server = serve_metrics(registry, self.options.metrics_host, self.options.metrics_port, self.log)
        except OSError as exc:
            where = f"{self.options.metrics_host}:{self.options.metrics_port}"
            raise WatchError(f"cannot serve metrics on {where}: {exc.strerror or exc}") from None
        port = int(server.server_port)
        host = self.options.metrics_host
        shown = f"[{host}]" if ":" in host else host
        self.log.info("metrics_serving", f"serving metrics on http://{shown}:{port}/metrics", port=port)
        return server, port

    def _run_active(self, stop: threading.Event, lease: WatchLease) -> int:
        """Holding the lease: follow, evaluate and deliver until `stop` or the lease is lost (exit 1, so a
        supervisor restarts this one as a standby)."""
        self.tidy()
        for follower in self.sources:
            follower.start(stop)
        outbox_thread = threading.Thread(target=self._outbox_loop, args=(stop,), name="outbox", daemon=True)
        outbox_thread.start()
        self.log.info(
            "watch_started",
            f"watching {len(self.sources)} source(s), {len(self.config.rules)} rule(s), "
            f"{len(self.config.channels)} channel(s), every {self.options.every_s:g}s",
        )
        code = EXIT_OK
        try:
            while not stop.is_set():
                if not lease.still_held():
                    code = EXIT_ERROR
                    break
                try:
                    self.evaluate()
                    self.service.evaluated(ok=True)
                except Exception as exc:  # a bad moment (store busy, gone) must not end the service
                    self.service.evaluated(ok=False)
                    self.log.error("evaluation_failed", f"evaluation failed: {type(exc).__name__}: {exc}")
                stop.wait(self.options.every_s)
        finally:
            stop.set()
            deadline = time.monotonic() + STOP_JOIN_S
            for follower in self.sources:
                if follower.thread is not None:
                    follower.thread.join(timeout=max(0.1, deadline - time.monotonic()))
                    if follower.thread.is_alive():
                        self.log.warning(
                            "source_abandoned",
                            f"{follower.label}: still reading at stop; its last complete batch is stored",
                            source=follower.label,
                        )
            outbox_thread.join(timeout=5)
        return code

    def _outbox_loop(self, stop: threading.Event) -> None:
        asyncio.run(self._outbox(stop))

    async def _outbox(self, stop: threading.Event) -> None:
        """Every channel's queue in a task of its own until `stop`; a try in flight is abandoned (it stays
        queued)."""
        sender = ChannelSender(self.config)
        task = asyncio.ensure_future(self._delivery(sender).run(OUTBOX_POLL_S))
        try:
            while not stop.is_set() and not task.done():
                await asyncio.wait({task}, timeout=OUTBOX_POLL_S)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await sender.aclose()
