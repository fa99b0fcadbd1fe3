"""Running a replay job: claim items, send them through the one sender, write each result with its attempts.

Per endpoint: a worker pool no larger than the endpoint's max_in_flight, an optional rate limit, and a
circuit breaker that pauses an endpoint which keeps failing (its remaining items end failed with the reason).
Across endpoints: at most `concurrency` requests in flight. Results are written in small groups as they come
(one transaction each), so a killed runner loses at most the items in flight.

Store calls run on the event loop's own thread: they take a few milliseconds per group, while handing them to
a thread made each one wait on the GIL behind the HTTP work (about 30 ms a transaction, a fifth of the
throughput). Callers that must not block (the console) run the whole job in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from console.delivery import ClientPool, Message, Sender, SendResult, Target
from console.domain.outcomes import Trigger
from console.domain.records import AttemptRecord
from console.domain.replay import ItemState, JobState, JobView
from console.domain.times import now_ms
from console.store import Store
from console.store import replay_jobs as journal
from console.store.replay_jobs import ClaimedItem, ItemResult


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 10
    lease_ms: int = 600_000
    breaker_threshold: int = 5
    heartbeat_s: float = 1.0
    claim_batch: int = 200
    commit_interval_s: float = 0.05


@dataclass
class EndpointCounts:
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    in_flight: int = 0
    breaker: str | None = None


@dataclass
class RunProgress:
    """Live counts of this run, per endpoint (what a progress bar or the console shows)."""

    job_id: str
    endpoints: dict[str, EndpointCounts] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def of(self, endpoint_id: str) -> EndpointCounts:
        return self.endpoints.setdefault(endpoint_id, EndpointCounts())

    @property
    def done(self) -> int:
        return sum(c.delivered + c.failed + c.skipped for c in self.endpoints.values())


ProgressHook = Callable[[RunProgress], None]


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _TokenBucket:
    def __init__(self, rate_per_s: float) -> None:
        self.rate = rate_per_s
        self.next_at = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        if self.next_at > now:
            await asyncio.sleep(self.next_at - now)
        self.next_at = max(self.next_at, now) + 1.0 / self.rate


_DONE = None  # tells a worker its queue is finished
_END: Any = object()  # tells the writer every result is in


class JobRunner:
    """Runs one job to its end, to a stop, or until it is cancelled elsewhere."""

    def __init__(self, store: Store, job_id: str, targets: dict[str, Target], force: bool, options: RunOptions,
                 *, rate_limits: dict[str, float] | None = None, max_in_flight: dict[str, int] | None = None,
                 on_progress: ProgressHook | None = None, pool: ClientPool | None = None) -> None:  # fmt: skip
        self.store = store
        self.job_id = job_id
        self.targets = targets
        self.force = force
        self.options = options
        self.rate_limits = rate_limits or {}
        self.max_in_flight = max_in_flight or {}
        self.on_progress = on_progress
        self.progress = RunProgress(job_id)
        self.pool = pool
        self.stop = asyncio.Event()
        self.cancelled = False
        self._stopped_early = False
        self._failure: str | None = None
        self._queues: dict[str, asyncio.Queue[ClaimedItem | None]] = {}
        self._results: asyncio.Queue[Any] = asyncio.Queue()
        self._failures_in_row: dict[str, int] = {}

    async def run(self) -> JobView:
        now = now_ms()
        journal.set_job_state(self.store, self.job_id, JobState.RUNNING, now, runner=runner_name())
        own_pool = self.pool is None
        pool = self.pool or ClientPool(self.options.concurrency)
        sender = Sender(pool)
        slots = asyncio.Semaphore(self.options.concurrency)
        lane = 0
        workers: list[asyncio.Task[None]] = []
        for endpoint_id in self.targets:
            self._queues[endpoint_id] = asyncio.Queue()
            self.progress.of(endpoint_id)
            width = min(
                self.options.concurrency, self.max_in_flight.get(endpoint_id) or self.options.concurrency
            )
            bucket = (
                _TokenBucket(self.rate_limits[endpoint_id]) if self.rate_limits.get(endpoint_id) else None
            )
            for _ in range(width):
                task = asyncio.create_task(
                    self._worker(endpoint_id, sender, slots, bucket, lane), name=endpoint_id
                )
                workers.append(task)
                lane += 1
        writer = asyncio.create_task(self._writer())
        watcher = asyncio.create_task(self._heartbeat())
        try:
            await self._feed()
            for endpoint_id, queue in self._queues.items():
                for _ in range(sum(1 for w in workers if w.get_name() == endpoint_id)):
                    queue.put_nowait(_DONE)
            await asyncio.gather(*workers)
            self._stopped_early = self.stop.is_set()
        except BaseException as exc:
            self._failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise
        finally:
            self.stop.set()  # if anything above failed, workers still running must not send more
            for task in workers:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._results.put_nowait(_END)
            watcher.cancel()
            try:
                await writer  # writes every result that came back; re-raises if writing failed
            finally:
                if own_pool:
                    await pool.aclose()
                if self._failure is not None:
                    self._give_up()
        return self._finish()

    def _give_up(self) -> None:
        """The run broke off: leave the job resumable, saying why."""
        # The store itself may be what failed; the job then stays `running` until resumed.
        with contextlib.suppress(Exception):
            journal.set_job_state(self.store, self.job_id, JobState.INTERRUPTED, now_ms(), note=self._failure)

    async def _feed(self) -> None:
        """Claim items while there is room in the queues; stop when nothing is left or on stop."""
        # Claimed items are marked `sending`; keeping the backlog near the concurrency keeps that mark honest.
        backlog = min(self.options.claim_batch, 2 * self.options.concurrency)
        while not self.stop.is_set():
            queued = sum(q.qsize() for q in self._queues.values())
            if queued >= backlog // 2:  # claim in halves: fewer, larger claim transactions
                await asyncio.sleep(0.01)
                continue
            open_endpoints = [e for e in self.targets if self.progress.of(e).breaker is None]
            batch = journal.claim_items(self.store, self.job_id, backlog - queued, self.options.lease_ms, now_ms(),
                self.force, open_endpoints,
            )  # fmt: skip
            for item in batch.claimed:
                self._queues[item.endpoint_id].put_nowait(item)
            for _, endpoint_id in batch.skipped:
                self.progress.of(endpoint_id).skipped += 1
            if batch.skipped:
                self._report()
            if not batch.claimed and not batch.skipped:
                if batch.waiting:
                    await asyncio.sleep(
                        0.25
                    )  # held by another job: wait until it is delivered or its lease ends
                    continue
                if queued == 0 and all(c.in_flight == 0 for c in self.progress.endpoints.values()):
                    return
                await asyncio.sleep(0.01)

    async def _worker(self, endpoint_id: str, sender: Sender, slots: asyncio.Semaphore,
                      bucket: _TokenBucket | None, lane: int) -> None:  # fmt: skip
        queue = self._queues[endpoint_id]
        counts = self.progress.of(endpoint_id)
        target = self.targets[endpoint_id]
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if self.stop.is_set() or counts.breaker is not None:
                await self._unsent(item, counts.breaker)
                continue
            if bucket is not None:
                await bucket.wait()
            counts.in_flight += 1
            try:
                async with slots:
                    result = await sender.send(target, Message(item.event_id, item.event_type, item.payload), lane=lane,
                                               should_stop=self.stop.is_set)  # fmt: skip
            finally:
                counts.in_flight -= 1
            await self._results.put(self._item_result(item, result))
            self._note_outcome(endpoint_id, result)

    async def _unsent(self, item: ClaimedItem, breaker: str | None) -> None:
        if breaker is not None:
            await self._results.put(
                ItemResult(item.event_id, item.endpoint_id, ItemState.FAILED, last_error=breaker)
            )
        else:
            journal.release_pending(
                self.store,
                self.job_id,
                [(item.event_id, item.endpoint_id)],
                now_ms(),
            )

    def _item_result(self, item: ClaimedItem, result: SendResult) -> ItemResult:
        attempts = tuple(
            AttemptRecord(
                item.event_id, item.event_type, item.endpoint_id, item.base_attempt + a.number, a.started_at_ms,
                a.outcome, a.status_code, a.latency_ms, a.error, Trigger.MANUAL, self.job_id,
                orjson.dumps(a.request_headers).decode(), a.response_excerpt,
            )
            for a in result.attempts
        )  # fmt: skip
        last = result.attempts[-1] if result.attempts else None
        state = ItemState.DELIVERED if result.delivered else ItemState.FAILED
        error = None if result.delivered else (result.reason or (last.error if last else None))
        return ItemResult(
            item.event_id, item.endpoint_id, state, attempts, last.status_code if last else None, error
        )

    def _note_outcome(self, endpoint_id: str, result: SendResult) -> None:
        counts = self.progress.of(endpoint_id)
        if result.delivered:
            self._failures_in_row[endpoint_id] = 0
            return
        failures = self._failures_in_row.get(endpoint_id, 0) + 1
        self._failures_in_row[endpoint_id] = failures
        if counts.breaker is None and (result.endpoint_gone or failures >= self.options.breaker_threshold):
            counts.breaker = (
                f"circuit breaker: {endpoint_id} answered 410 Gone; paused for this job"
                if result.endpoint_gone
                else f"circuit breaker: {endpoint_id} failed {failures} items in a row; paused for this job"
            )

    async def _writer(self) -> None:
        """Group commit: write whatever results are waiting, one transaction at a time, until the end mark.

        Commits are at least `commit_interval_s` apart: each blocks the event loop for a few milliseconds, so
        fewer, larger ones leave more of the loop to the requests in flight."""
        ended = False
        last_commit = 0.0
        while not ended:
            group: list[ItemResult] = []
            item = await self._results.get()
            wait = self.options.commit_interval_s - (time.monotonic() - last_commit)
            if wait > 0 and item is not _END:
                await asyncio.sleep(wait)
            while True:
                if item is _END:
                    ended = True
                    break
                group.append(item)
                if self._results.empty() or len(group) >= 500:
                    break
                item = self._results.get_nowait()
            if not group:
                continue
            last_commit = time.monotonic()
            journal.record_results(self.store, self.job_id, group, now_ms())
            for result in group:
                counts = self.progress.of(result.endpoint_id)
                if result.state is ItemState.DELIVERED:
                    counts.delivered += 1
                else:
                    counts.failed += 1
            self._report()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.options.heartbeat_s)
            state = journal.heartbeat(self.store, self.job_id, now_ms())
            if state is JobState.CANCELLED:
                self.cancelled = True
                self.stop.set()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _finish(self) -> JobView:
        now = now_ms()
        for endpoint_id, counts in self.progress.endpoints.items():
            if counts.breaker is not None:
                counts.failed += journal.fail_pending(
                    self.store, self.job_id, endpoint_id, counts.breaker, now
                )
        if self.cancelled:
            journal.cancel_job(self.store, self.job_id, now)
        view = journal.job_view(self.store, self.job_id)
        assert view is not None
        if not self.cancelled:
            if self._stopped_early and view.count(ItemState.PENDING):
                state = JobState.INTERRUPTED
            else:
                state = JobState.DONE if view.succeeded else JobState.FAILED
            journal.set_job_state(self.store, self.job_id, state, now)
        view = journal.job_view(self.store, self.job_id)
        assert view is not None
        self._report()
        return view
