"""The traffic simulator: a small dispatcher that makes reward events and delivers them, through the one
sender, to sandbox receivers, writing every attempt into the store as it happens (so the store fills live).

It only sends to loopback URLs: it is a sandbox, not a load generator for real endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

from console.delivery import AttemptResult, ClientPool, Message, Sender, Target
from console.domain.outcomes import Trigger
from console.domain.records import AttemptRecord, EventRecord
from console.domain.times import format_ms
from console.endpoints import is_loopback
from console.sandbox.profiles import EVENT_TYPE_WEIGHTS, EVENT_TYPES, PROFILES, make_payload
from console.store import Store, write_batch

MAX_IN_FLIGHT = 200


@dataclass(frozen=True)
class SimulationOptions:
    rate_per_s: float = 5.0
    duration_s: float | None = None
    seed: int | None = None
    flush_s: float = 0.5
    users: int = 500


@dataclass
class SimulationSummary:
    events: int = 0
    attempts: int = 0
    delivered: int = 0
    failed: int = 0
    by_endpoint: dict[str, list[int]] = field(default_factory=dict)


class SimulationError(Exception):
    pass


def check_loopback(targets: Sequence[Target]) -> None:
    for target in targets:
        host = urlsplit(target.url).hostname or ""
        if not is_loopback(host):
            raise SimulationError(
                f"endpoint {target.endpoint_id!r} points at {host}: the simulator sends only to loopback receivers"
            )


class Simulator:
    """Generates events at a steady average rate and delivers each to the endpoints subscribed to its type."""

    def __init__(self, store: Store, targets: Sequence[Target], options: SimulationOptions) -> None:
        check_loopback(targets)
        self.store = store
        self.targets = list(targets)
        self.options = options
        self.rng = random.Random(options.seed)
        self.summary = SimulationSummary()
        self.stop = asyncio.Event()
        self._attempts: list[AttemptRecord] = []
        self._events: list[EventRecord] = []
        self._writing = asyncio.Lock()  # one flush at a time: an attempt never commits before its event
        self._closing = asyncio.Event()  # the flush loop ends after the flush it is in
        self._run_tag = f"{int(time.time()):x}"
        known = {p.id: p.event_types for p in PROFILES}
        self._subscriptions = {t.endpoint_id: known.get(t.endpoint_id, EVENT_TYPES) for t in self.targets}
        wanted = {event_type for types in self._subscriptions.values() for event_type in types}
        pairs = [(t, w) for t, w in zip(EVENT_TYPES, EVENT_TYPE_WEIGHTS, strict=True) if t in wanted]
        self._types = [t for t, _ in pairs]
        self._weights = [w for _, w in pairs]

    async def run(self) -> SimulationSummary:
        pool = ClientPool(MAX_IN_FLIGHT)
        sender = Sender(pool, rng=self.rng)
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        flusher = asyncio.create_task(self._flush_loop())
        flusher.add_done_callback(lambda _: self.stop.set())  # a failed flush ends the simulation
        tasks: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        try:
            index = 0
            while not self.stop.is_set():
                if (
                    self.options.duration_s is not None
                    and time.monotonic() - started >= self.options.duration_s
                ):
                    break
                event, message = self._make_event(index)
                self._events.append(event)
                self.summary.events += 1
                for target in self.targets:
                    if event.event_type in self._subscriptions[target.endpoint_id]:
                        await slots.acquire()
                        task = asyncio.create_task(self._deliver(sender, target, message, index, slots))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                index += 1
                gap = self.rng.expovariate(self.options.rate_per_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=gap)
            self.stop.set()  # no more retries for what is still in flight
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._closing.set()
            try:
                await flusher  # lets the flush it is in commit (re-raises a store's rejection)
            finally:
                await pool.aclose()
            await self._flush()
        return self.summary

    def _make_event(self, index: int) -> tuple[EventRecord, Message]:
        event_type = self.rng.choices(self._types, self._weights)[0]
        event_id = f"evt_sim_{self._run_tag}_{index:06d}"
        now = int(time.time() * 1000)
        payload_fields = make_payload(
            self.rng, event_id, event_type, self.rng.randrange(self.options.users), format_ms(now)
        )
        payload = orjson.dumps(payload_fields)
        amount = payload_fields["amount"]
        event = EventRecord(
            event_id,
            event_type,
            now,
            payload,
            str(payload_fields["user_id"]),
            str(payload_fields["reward_id"]),
            str(amount),
            str(payload_fields["currency"]),
        )
        return event, Message(event_id, event_type, payload)

    async def _deliver(
        self, sender: Sender, target: Target, message: Message, lane: int, slots: asyncio.Semaphore
    ) -> None:
        def record(attempt: AttemptResult) -> None:
            self._attempts.append(
                AttemptRecord(
                    message.event_id,
                    message.event_type,
                    target.endpoint_id,
                    attempt.number,
                    attempt.started_at_ms,
                    attempt.outcome,
                    attempt.status_code,
                    attempt.latency_ms,
                    attempt.error,
                    Trigger.SCHEDULED,
                    None,
                    orjson.dumps(attempt.request_headers).decode(),
                    attempt.response_excerpt,
                )
            )
            self.summary.attempts += 1

        try:
            result = await sender.send(
                target, message, lane=lane, on_attempt=record, should_stop=self.stop.is_set
            )
        finally:
            slots.release()
        counts = self.summary.by_endpoint.setdefault(target.endpoint_id, [0, 0])
        if result.delivered:
            self.summary.delivered += 1
            counts[0] += 1
        else:
            self.summary.failed += 1
            counts[1] += 1

    async def _flush_loop(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=self.options.flush_s)
            await self._flush()

    async def _flush(self) -> None:
        """Write the attempts made so far, with the events they introduce (an event waits for its first attempt).

        Flushes run one after another, each committed before the next starts (a retry's attempt never reaches
        the store before its event); an attempt the store rejects stops the simulation with the reason."""
        async with self._writing:
            attempts, self._attempts = self._attempts, []
            if not attempts:
                return
            attempted = {a.event_id for a in attempts}
            ready = [e for e in self._events if e.event_id in attempted]
            self._events = [e for e in self._events if e.event_id not in attempted]
            write = asyncio.ensure_future(asyncio.to_thread(write_batch, self.store, attempts, ready))
            try:
                result = await asyncio.shield(write)
            except asyncio.CancelledError:
                await write  # the thread writes on: the next flush starts once it has committed
                raise
        if result.rejected:
            (event_id, endpoint_id, attempt, _), why = next(iter(result.rejected.items()))
            raise SimulationError(
                f"the store rejected {len(result.rejected)} attempt(s), e.g. {event_id} at {endpoint_id} "
                f"attempt {attempt}: {why}"
            )
