"""Delivering the notification outbox: each channel takes its own queue in order, one at a time, side by side.

Each channel reads its own queue (so a long backlog on one channel never hides another's), and in the service
each channel runs in a task of its own (so a slow channel holds only itself, each try bounded by the channel's
`timeout_s`). A failed try leaves the notification at the head of its channel's queue with a next-try time
(exponential backoff with full jitter, capped, or the channel's Retry-After), so nothing is lost while a channel
is down and the other channels and the rules go on. A channel that refuses a notification outright (a 4xx other
than 408, 425 or 429) is tried `REFUSED_TRIES` times before that notification is given up on, loudly.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from console.delivery import RetryPolicy
from console.domain import formatting as fmt
from console.domain.alerts import OutboxItem
from console.store import Store
from console.store.alerts import mark_failed, mark_sent, pending_outbox
from console.watch.channels import ChannelSender, TryResult
from console.watch.logs import Log
from console.watch.rules import AlertsConfig, Channel

OUTBOX_POLICY = RetryPolicy(base_s=1.0, factor=2.0, cap_s=60.0, max_retry_after_s=3600.0)
REFUSED_TRIES = 10
BATCH = 200  # a channel's queue is read this many notifications at a time


class OutboxDelivery:
    """Sends what is due in the outbox: `deliver_due` is one pass over every channel's queue, `run` keeps every
    channel's queue going on its own."""

    def __init__(
        self,
        store: Store,
        config: AlertsConfig,
        sender: ChannelSender,
        log: Log,
        *,
        policy: RetryPolicy = OUTBOX_POLICY,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.channels = {c.name: c for c in config.channels}
        self.sender = sender
        self.log = log
        self.policy = policy
        self.clock = clock
        self.rng = rng or random.Random()
        self.failing: set[str] = set()
        self.on_result: Callable[[str, str], None] = lambda channel, result: None  # for /metrics

    async def deliver_due(self) -> int:
        """One pass: every channel sends what is due in its queue, channels side by side; returns how many
        were delivered."""
        counts = await asyncio.gather(*(self.drain(channel) for channel in self.channels.values()))
        return sum(counts)

    async def run(self, poll_s: float) -> None:
        """Every channel drains its queue again and again, each in a task of its own, until cancelled."""
        await asyncio.gather(*(self._keep_draining(channel, poll_s) for channel in self.channels.values()))

    async def _keep_draining(self, channel: Channel, poll_s: float) -> None:
        failure: str | None = None
        while True:
            try:
                await self.drain(channel)
                failure = None
            except Exception as exc:  # the store busy or gone: said once, tried again next time
                text = f"{type(exc).__name__}: {exc}"
                if text != failure:
                    self.log.error(
                        "outbox_failed",
                        f"channel {channel.name}: outbox delivery failed: {text}",
                        channel=channel.name,
                    )
                failure = text
            await asyncio.sleep(poll_s)

    async def drain(self, channel: Channel) -> int:
        """Send the channel's due notifications in queue order until one fails or none is due."""
        sent = 0
        while True:
            items = await asyncio.to_thread(pending_outbox, self.store, BATCH, channel.name)
            for item in items:
                if item.next_try_ms > int(self.clock() * 1000):
                    return sent
                result = await self.sender.try_send(channel, item.notification_id, item.body)
                if result.ok:
                    await asyncio.to_thread(mark_sent, self.store, item.seq, int(self.clock() * 1000))
                    sent += 1
                    self._sent(channel, item, result)
                elif not await self._failed(channel, item, result):
                    return sent
            if len(items) < BATCH:
                return sent

    def _sent(self, channel: Channel, item: OutboxItem, result: TryResult) -> None:
        self.on_result(channel.name, "delivered")
        if channel.name in self.failing:
            self.failing.discard(channel.name)
            self.log.info(
                "channel_recovered", f"channel {channel.name} is delivering again", channel=channel.name
            )
        if result.error:  # delivered, with something to say about the answer
            self.log.warning(
                "channel_answer",
                f"channel {channel.name} answered {item.notification_id}: {result.error}",
                channel=channel.name,
                notification=item.notification_id,
            )
        self.log.info(
            "notification_sent",
            f"sent {item.notification_id} to channel {channel.name}",
            channel=channel.name,
            notification=item.notification_id,
        )

    async def _failed(self, channel: Channel, item: OutboxItem, result: TryResult) -> bool:
        """Record a failed try; True when the notification was given up on (the queue may go on)."""
        tries = item.tries + 1
        dead = not result.retryable and tries >= REFUSED_TRIES
        delay = self.policy.backoff(min(tries, 30), self.rng)
        if result.retry_after_s is not None:
            delay = max(delay, min(result.retry_after_s, self.policy.max_retry_after_s))
        next_try_ms = int((self.clock() + delay) * 1000)
        error = result.error or "failed"
        await asyncio.to_thread(mark_failed, self.store, item.seq, next_try_ms, error, dead)
        self.failing.add(channel.name)
        self.on_result(channel.name, "given_up" if dead else "failed")
        if dead:
            self.log.error(
                "notification_dropped",
                f"channel {channel.name} refused {item.notification_id} {tries} times ({error}); given up on",
                channel=channel.name,
                notification=item.notification_id,
            )
            return True
        self.log.warning(
            "channel_failing",
            f"channel {channel.name} failed ({error}); {item.notification_id} kept, next try in {fmt.duration(delay * 1000)}",
            channel=channel.name,
            notification=item.notification_id,
            tries=tries,
        )
        return False
