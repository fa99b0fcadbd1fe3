"""Running a replay job: claim items, send them through the one sender, write each result with its attempts.

Per endpoint: a worker pool no larger than the endpoint's max_in_flight, an optional rate limit, and a
circuit breaker that pauses an endpoint which keeps failing (its remaining items end failed with the reason).
The first request to each endpoint goes alone; the others follow once it is answered, so an endpoint that
answers 410 Gone gets one request, not one per worker. The breaker is checked before every try.
Across endpoints: at most `concurrency` requests in flight. Ordered (`--ordered`): each worker of an endpoint
has a queue of its own, and an item goes to the queue its ordering key (reward, else user) hashes to, in claim
order (the plan's order), so one key's events are sent one at a time, in order, while other keys go on. Results are written in small groups as they come
(one transaction each), so a killed runner loses at most the items in flight.

Claims: the heartbeat renews the leases of the items this runner holds before they run out, and every try
first checks the item's claim is still this job's (a lease that ran out, say while the loop was stalled, may
have been taken by another job: the item then goes back to pending and is not sent again from here). A drain
(a first Ctrl-C or `x`) claims and sends nothing more and tries nothing again, but lets the requests in flight
end and records them (an answered request is never sent again by `resume`); a stop (a second Ctrl-C or `x`, a
cancel elsewhere) abandons the requests in flight at once; their items go back to pending.

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
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.delivery import STOPPED, AttemptResult, ClientPool, Message, Sender, SendResult, Target
from console.domain.replay import ItemState, JobState, JobView
from console.domain.times import now_ms
from console.replay.results import item_result, record_resiliently
from console.store import Store
from console.store import replay_jobs as journal
from console.store.failures import one_line
from console.store.replay_jobs import ClaimedItem, ItemResult


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 10
    lease_ms: int = 600_000  # claims are renewed while held; a dead runner's run out after this
    breaker_threshold: int = 5
    heartbeat_s: float = 1.0
    claim_batch: int = 200
    commit_interval_s: float = 0.05
    renew_claims: bool = True  # False only in tests: a runner whose heartbeat stalls


CLAIM_LOST = "claim lost: the lease ran out and another job took the delivery"


@dataclass
class EndpointCounts:
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    in_flight: int = 0
    breaker: str | None = None


@dataclass
class RunProgress:
    """Live counts of the job, per endpoint (what a progress bar or the console shows): its items ended before
    this run started, plus this run's."""

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

    def __init__(
        self,
        store: Store,
        job_id: str,
        targets: dict[str, Target],
        force: bool,
        options: RunOptions,
        *,
        rate_limits: dict[str, float] | None = None,
        max_in_flight: dict[str, int] | None = None,
        on_progress: ProgressHook | None = None,
        pool: ClientPool | None = None,
        ordered: bool = False,
    ) -> None:
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
        self.drain = asyncio.Event()  # no new claims, sends or tries; the requests in flight end as they will
        self.target_url: str | None = None  # `--to`: attempts are stored apart (console.store.replay_targets)
        self.cancelled = False
        self._stopped_early = False
        self._failure: str | None = None
        self.ordered = ordered
        self._queues: dict[str, asyncio.Queue[ClaimedItem | None]] = {}
        self._lanes: dict[str, list[asyncio.Queue[ClaimedItem | None]]] = {}  # ordered: a queue per worker
        self._results: asyncio.Queue[Any] = asyncio.Queue()
        self._failures_in_row: dict[str, int] = {}
        self._held: dict[tuple[str, str], int] = {}  # claims this runner holds -> lease end (epoch ms)
        self._lost: set[tuple[str, str]] = set()
        self._busy = 0  # items taken from the queues whose result is not written yet
        self._answered: dict[str, asyncio.Event] = {}  # per endpoint: its first request was answered
        self._probing: set[str] = set()

    async def run(self) -> JobView:
        now = now_ms()
        journal.set_job_state(self.store, self.job_id, JobState.RUNNING, now, runner=runner_name())
        self._count_what_is_done()
        own_pool = self.pool is None
        pool = self.pool or ClientPool(self.options.concurrency)
        sender = Sender(pool)
        slots = asyncio.Semaphore(self.options.concurrency)
        lane = 0
        workers: list[asyncio.Task[None]] = []
        for endpoint_id in self.targets:
            self._queues[endpoint_id] = asyncio.Queue()
            self._answered[endpoint_id] = asyncio.Event()
            self.progress.of(endpoint_id)
            width = min(
                self.options.concurrency, self.max_in_flight.get(endpoint_id) or self.options.concurrency
            )
            bucket = (
                _TokenBucket(self.rate_limits[endpoint_id]) if self.rate_limits.get(endpoint_id) else None
            )
            self._lanes[endpoint_id] = [asyncio.Queue() for _ in range(width)] if self.ordered else []
            for index in range(width):
                queue = self._lanes[endpoint_id][index] if self.ordered else self._queues[endpoint_id]
                task = asyncio.create_task(self._worker(queue, sender, slots, bucket, lane), name=endpoint_id)
                workers.append(task)
                lane += 1
        writer = asyncio.create_task(self._writer())
        watcher = asyncio.create_task(self._heartbeat())
        stopper = asyncio.create_task(self._abort_on_stop(sender))
        try:
            await self._feed()
            for endpoint_id, queue in self._queues.items():
                for _ in range(sum(1 for w in workers if w.get_name() == endpoint_id)):
                    queue.put_nowait(_DONE)
                for lane_queue in self._lanes.get(endpoint_id, []):
                    lane_queue.put_nowait(_DONE)
            await asyncio.gather(*workers)
            self._stopped_early = self.stop.is_set() or self.drain.is_set()
        except BaseException as exc:
            self._failure = one_line(exc, self.store.url)  # the job's note: no SQL, parameters or traceback
            raise
        finally:
            self.stop.set()  # if anything above failed, workers still running must not send more
            for task in workers:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._results.put_nowait(_END)
            watcher.cancel()
            stopper.cancel()
            try:
                await writer  # writes every result that came back; re-raises if writing failed
            finally:
                if own_pool:
                    await pool.aclose()
                if self._failure is not None:
                    self._give_up()
        return self._finish()

    def _count_what_is_done(self) -> None:
        """Start each endpoint's counts from the job's stored items: those skipped when the job was made
        (delivered since its plan), and what an earlier run delivered or failed, so the per-endpoint figures
        add up to the job's."""
        view = journal.job_view(self.store, self.job_id)
        for endpoint in view.endpoints if view is not None else ():
            counts = self.progress.of(endpoint.endpoint_id)
            counts.delivered = endpoint.count(ItemState.DELIVERED)
            counts.failed = endpoint.count(ItemState.FAILED)
            counts.skipped = endpoint.count(ItemState.SKIPPED)

    def _give_up(self) -> None:
        """The run broke off: leave the job resumable, saying why."""
        # The store itself may be what failed; the job then stays `running` until resumed.
        with contextlib.suppress(Exception):
            journal.set_job_state(self.store, self.job_id, JobState.INTERRUPTED, now_ms(), note=self._failure)

    async def _abort_on_stop(self, sender: Sender) -> None:
        """A stop abandons the requests and pauses in flight at once (their items go back to pending)."""
        await self.stop.wait()
        sender.abort()

    async def _feed(self) -> None:
        """Claim items while there is room in the queues; stop when nothing is left or on stop."""
        # Claimed items are marked `sending`; keeping the backlog near the concurrency keeps that mark honest.
        backlog = min(self.options.claim_batch, 2 * self.options.concurrency)
        while not self.stop.is_set() and not self.drain.is_set():
            queued = sum(q.qsize() for q in self._queues.values()) + sum(
                q.qsize() for lanes in self._lanes.values() for q in lanes
            )
            if queued >= backlog // 2:  # claim in halves: fewer, larger claim transactions
                await asyncio.sleep(0.01)
                continue
            open_endpoints = [e for e in self.targets if self.progress.of(e).breaker is None]
            batch = journal.claim_items(
                self.store,
                self.job_id,
                backlog - queued,
                self.options.lease_ms,
                now_ms(),
                self.force,
                open_endpoints,
            )
            for item in batch.claimed:
                self._held[(item.event_id, item.endpoint_id)] = item.claim_until
                self._queue_for(item).put_nowait(item)
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
                if queued == 0 and self._busy == 0:
                    return
                await asyncio.sleep(0.01)

    def _queue_for(self, item: ClaimedItem) -> asyncio.Queue[ClaimedItem | None]:
        lanes = self._lanes.get(item.endpoint_id)
        if not lanes:
            return self._queues[item.endpoint_id]
        key = item.order_key or f"event:{item.event_id}"  # no key: no order to keep
        return lanes[zlib.crc32(key.encode()) % len(lanes)]

    async def _worker(
        self,
        queue: asyncio.Queue[ClaimedItem | None],
        sender: Sender,
        slots: asyncio.Semaphore,
        bucket: _TokenBucket | None,
        lane: int,
    ) -> None:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            self._busy += 1
            try:
                result = await self._process(item, sender, slots, bucket, lane)
            except Exception as exc:  # a bug or an unforeseen failure ends this item, never the worker
                reason = f"unexpected error: {one_line(exc, self.store.url)}"
                result = ItemResult(item.event_id, item.endpoint_id, ItemState.FAILED, last_error=reason)
            if result is not None:
                await self._results.put(result)

    async def _process(
        self,
        item: ClaimedItem,
        sender: Sender,
        slots: asyncio.Semaphore,
        bucket: _TokenBucket | None,
        lane: int,
    ) -> ItemResult | None:
        """Send one item (unless stopped or paused); its result, or None when it was given back unsent."""
        endpoint_id = item.endpoint_id
        counts = self.progress.of(endpoint_id)
        if self._ending() or counts.breaker is not None:
            return self._unsent(item, counts.breaker)
        if bucket is not None:
            await bucket.wait()
        answered = self._answered[endpoint_id]
        probe = False
        if not answered.is_set():
            if endpoint_id in self._probing:
                await answered.wait()
            else:
                self._probing.add(endpoint_id)
                probe = True
        made: list[AttemptResult] = []

        def note(attempt: AttemptResult) -> None:
            made.append(attempt)
            answered.set()
            if attempt.status_code == 410 and counts.breaker is None:
                counts.breaker = f"circuit breaker: {endpoint_id} answered 410 Gone; paused for this job"

        def may_try(_number: int) -> str | None:
            return self._may_try((item.event_id, endpoint_id), counts)

        def should_stop() -> bool:
            return self._ending() or counts.breaker is not None

        counts.in_flight += 1
        try:
            async with slots:
                result = await sender.send(
                    self.targets[endpoint_id],
                    Message(item.event_id, item.event_type, item.payload),
                    lane=lane,
                    on_attempt=note,
                    before_try=may_try,
                    should_stop=should_stop,
                )
        except Exception as exc:  # keep the attempts made so far
            result = SendResult(
                tuple(made), False, f"unexpected error while sending: {type(exc).__name__}: {exc}"
            )
        finally:
            counts.in_flight -= 1
            if probe:
                answered.set()
        if not result.halted:
            self._note_outcome(endpoint_id, result)
        return self._item_result(item, result, counts)

    def _may_try(self, key: tuple[str, str], counts: EndpointCounts) -> str | None:
        """Before each try: None to go on, or why this item must not be sent now."""
        if self._ending():
            return STOPPED
        if counts.breaker is not None:
            return counts.breaker
        if key in self._lost:
            return CLAIM_LOST
        if now_ms() < self._held.get(key, 0):
            return None  # the lease still runs: nobody else can hold it
        if not self.options.renew_claims:
            self._lost.add(key)
            return CLAIM_LOST
        try:
            renewed = self._renew([key])
        except Exception as exc:  # no claim we can vouch for: do not send
            return f"claim could not be renewed ({type(exc).__name__})"
        return None if renewed else CLAIM_LOST

    def _ending(self) -> bool:
        """Stopped or draining: nothing new goes out."""
        return self.stop.is_set() or self.drain.is_set()

    def _renew(self, keys: list[tuple[str, str]]) -> bool:
        """Renew these claims; True when every one is still this job's."""
        until = now_ms() + self.options.lease_ms
        held = journal.renew_claims(self.store, self.job_id, keys, until)
        for key in keys:
            if key in held:
                if key in self._held:
                    self._held[key] = until
            else:
                self._lost.add(key)
        return len(held) == len(keys)

    def _unsent(self, item: ClaimedItem, breaker: str | None) -> ItemResult | None:
        if breaker is not None:
            return ItemResult(item.event_id, item.endpoint_id, ItemState.FAILED, last_error=breaker)
        key = (item.event_id, item.endpoint_id)
        try:
            journal.release_pending(self.store, self.job_id, [key], now_ms())
        finally:
            self._held.pop(key, None)
            self._busy -= 1
        return None

    def _item_result(self, item: ClaimedItem, result: SendResult, counts: EndpointCounts) -> ItemResult:
        return item_result(self.job_id, item, result, counts.breaker)

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
            self._record(group)
            for result in group:
                self._held.pop((result.event_id, result.endpoint_id), None)
                self._busy -= 1
                counts = self.progress.of(result.endpoint_id)
                if result.state is ItemState.DELIVERED:
                    counts.delivered += 1
                elif result.state is ItemState.FAILED:
                    counts.failed += 1
            self._report()

    def _record(self, group: list[ItemResult]) -> None:
        record_resiliently(self.store, self.job_id, group, self.target_url)

    async def _heartbeat(self) -> None:
        """Say the runner is alive, notice a cancel, and renew claims before half their lease is gone."""
        interval = min(self.options.heartbeat_s, self.options.lease_ms / 3000)
        beat_due = time.monotonic() + self.options.heartbeat_s
        while True:
            await asyncio.sleep(interval)
            if self.options.renew_claims and self._held:
                soonest = min(self._held.values())
                if soonest - now_ms() < self.options.lease_ms / 2:
                    with contextlib.suppress(Exception):  # a store hiccup: the next beat tries again
                        self._renew(list(self._held))
            if time.monotonic() < beat_due:
                continue
            beat_due = time.monotonic() + self.options.heartbeat_s
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
