"""The one sender: delivers one event to one endpoint over httpx, signed, with timeouts and retries.

Replay and the sandbox simulator both send through `Sender.send`. Each attempt is signed afresh (new
timestamp), keeps the event id as the id header, and is returned with its status, latency, error and a
response excerpt. Retries use exponential backoff with full jitter, honour `Retry-After` on 429 and 503, stop
for good on 410, and do not follow redirects (a 3xx is a failure).

One attempt never takes longer than the target's timeout in all (connecting, waiting, reading), and only the
excerpt of a response body is read (the rest is discarded by closing the connection). `Sender.abort()` ends
every attempt and pause in flight at once (an operator's stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from console.domain.endpoint import ConvoySigning, EndpointConfig, Secret
from console.domain.outcomes import Outcome, classify_outcome
from console.signing import sign

RESPONSE_EXCERPT_BYTES = 512
# A response body announced at most this long is read whole, so its connection goes back to the pool.
SMALL_BODY_BYTES = 64 * 1024
USER_AGENT = "hookconsole/0.1 (+replay)"  # replays; alert notifications say "(+alerts)"
# Status codes worth trying again; other 4xx mean the request itself is refused and will be refused again.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
SHARD_CONNECTIONS = 4


@dataclass(frozen=True)
class RetryPolicy:
    """How one send retries: exponential backoff with full jitter, capped."""

    max_tries: int = 5
    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    max_retry_after_s: float = 300.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0  # the endpoint's timeout_s: the most one attempt takes, all phases together

    def backoff(self, tries_so_far: int, rng: random.Random) -> float:
        """Full jitter: a uniform delay up to the capped exponential bound."""
        return rng.uniform(0.0, min(self.cap_s, self.base_s * self.factor ** (tries_so_far - 1)))


@dataclass(frozen=True)
class Target:
    """Where and how to send: an endpoint's URL, scheme and resolved secrets, and the retry policy."""

    endpoint_id: str
    url: str
    scheme: str
    secrets: tuple[Secret, ...]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    convoy: ConvoySigning = field(default_factory=ConvoySigning)  # how the convoy scheme signs

    @classmethod
    def for_endpoint(cls, endpoint: EndpointConfig, secrets: Sequence[Secret], **policy: Any) -> Target:
        """A target with the endpoint's timeout and tries; `policy` overrides other RetryPolicy fields."""
        base = RetryPolicy(read_timeout_s=endpoint.timeout_s, max_tries=endpoint.max_tries)
        return cls(
            endpoint.id,
            endpoint.url,
            endpoint.scheme.value,
            tuple(secrets),
            replace(base, **policy),
            endpoint.convoy,
        )


@dataclass(frozen=True)
class Message:
    """What is sent: the event id (the id header) and the exact payload bytes."""

    event_id: str
    event_type: str
    payload: bytes


@dataclass(frozen=True)
class AttemptResult:
    """One HTTP attempt as the sender saw it."""

    number: int
    started_at_ms: int
    outcome: Outcome
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None
    request_headers: dict[str, str]
    retry_after_s: float | None = None


@dataclass(frozen=True)
class SendResult:
    """Every attempt of one send and how it ended."""

    attempts: tuple[AttemptResult, ...]
    delivered: bool
    reason: str | None = None
    endpoint_gone: bool = False
    halted: bool = False  # the caller stopped it (should_stop, before_try or abort), it did not give up


class ClientPool:
    """httpx clients sharded a few connections each: one httpcore pool slows down as it grows (and collapses
    past some thirty concurrent connections), while several small pools keep their speed."""

    def __init__(
        self, connections: int, shard_connections: int = SHARD_CONNECTIONS, user_agent: str = USER_AGENT
    ) -> None:
        shards = max(1, -(-connections // shard_connections))
        limits = httpx.Limits(max_connections=shard_connections, max_keepalive_connections=shard_connections)
        self.clients = [
            httpx.AsyncClient(
                limits=limits, follow_redirects=False, trust_env=False, headers={"user-agent": user_agent}
            )
            for _ in range(shards)
        ]

    def client(self, lane: int) -> httpx.AsyncClient:
        return self.clients[lane % len(self.clients)]

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients))


AttemptHook = Callable[[AttemptResult], Awaitable[None] | None]
# Called before every try with its number: a reason to stop sending, or None to go on.
TryGate = Callable[[int], Awaitable[str | None] | str | None]
STOPPED = "stopped before the next try"
ABORTED = "stopped: the send was abandoned while waiting for the answer"


class Sender:
    """Sends messages to targets through a ClientPool; `clock`, `sleep` and `rng` are injectable for tests."""

    def __init__(
        self,
        pool: ClientPool,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.sleep = sleep or self._pause
        self.rng = rng or random.Random()
        self.aborted = False
        self._deadlines: set[asyncio.Timeout] = set()
        self._wake: asyncio.Event | None = None

    def abort(self) -> None:
        """End every attempt and pause in flight now (each attempt in flight ends as stopped); no new tries."""
        self.aborted = True
        now = asyncio.get_running_loop().time()
        for deadline in list(self._deadlines):
            deadline.reschedule(now)
        if self._wake is not None:
            self._wake.set()

    async def _pause(self, seconds: float) -> None:
        """Sleep between tries; `abort()` cuts it short."""
        if self._wake is None:
            self._wake = asyncio.Event()
        if self.aborted:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def send(
        self,
        target: Target,
        message: Message,
        *,
        lane: int = 0,
        on_attempt: AttemptHook | None = None,
        should_stop: Callable[[], bool] | None = None,
        before_try: TryGate | None = None,
    ) -> SendResult:
        """Deliver with retries; returns every attempt. `should_stop` ends the send between attempts;
        `before_try` may refuse any try, the first included (the result is then `halted`)."""
        policy = target.policy
        attempts: list[AttemptResult] = []
        for number in range(1, policy.max_tries + 1):
            refusal = STOPPED if self.aborted else None
            if refusal is None and before_try is not None:
                verdict = before_try(number)
                refusal = await verdict if inspect.isawaitable(verdict) else verdict
            if refusal is not None:
                return SendResult(tuple(attempts), False, refusal, halted=True)
            result = await self.attempt(target, message, number, lane)
            attempts.append(result)
            if on_attempt is not None:
                maybe = on_attempt(result)
                if maybe is not None:
                    await maybe
            if result.outcome is Outcome.SUCCESS:
                return SendResult(tuple(attempts), delivered=True)
            if result.status_code == 410:
                return SendResult(
                    tuple(attempts), False, "410 Gone: the endpoint asked not to be sent more", True
                )
            if result.status_code is not None and result.status_code not in RETRYABLE_STATUS:
                return SendResult(tuple(attempts), False, f"{result.status_code} is not retried")
            if self.aborted:
                return SendResult(tuple(attempts), False, STOPPED, halted=True)
            if number == policy.max_tries:
                break
            delay = policy.backoff(number, self.rng)
            if result.retry_after_s is not None:
                if result.retry_after_s > policy.max_retry_after_s:
                    reason = f"Retry-After {result.retry_after_s:g}s is beyond the {policy.max_retry_after_s:g}s cap"
                    return SendResult(tuple(attempts), False, reason)
                delay = max(delay, result.retry_after_s)
            if should_stop is not None and should_stop():
                return SendResult(tuple(attempts), False, STOPPED, halted=True)
            await self.sleep(delay)
        return SendResult(tuple(attempts), False, f"gave up after {policy.max_tries} tries")

    async def attempt(self, target: Target, message: Message, number: int, lane: int = 0) -> AttemptResult:
        """One signed POST; never raises for transport problems (they become the attempt's outcome)."""
        started = self.clock()
        headers = sign(
            target.scheme,
            [s.reveal() for s in target.secrets],
            header_id(message.event_id),
            int(started),
            message.payload,
            target.convoy,
        )
        headers["content-type"] = "application/json"
        policy = target.policy
        timeout = httpx.Timeout(
            policy.read_timeout_s, connect=min(policy.connect_timeout_s, policy.read_timeout_s)
        )
        began = time.perf_counter()
        status: int | None = None
        error: str | None = None
        excerpt: str | None = None
        retry_after: float | None = None
        try:
            async with asyncio.timeout(policy.read_timeout_s) as deadline:
                self._deadlines.add(deadline)
                try:
                    status, body, retry_value = await self._exchange(target, message, headers, timeout, lane)
                finally:
                    self._deadlines.discard(deadline)
            excerpt = clean_text(body.decode("utf-8", errors="replace")) if body else None
            if status in (429, 503):
                retry_after = parse_retry_after(retry_value, self.clock())
        except TimeoutError:
            if self.aborted:
                error = ABORTED
            else:
                error = f"timeout: no complete answer within {policy.read_timeout_s:g}s"
        except httpx.TimeoutException as exc:
            error = f"timeout: {type(exc).__name__} after {policy.read_timeout_s:g}s"
        except httpx.TransportError as exc:
            error = clean_text(describe_transport_error(exc))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = clean_text(f"request refused before sending: {type(exc).__name__}: {exc}")
        latency = (time.perf_counter() - began) * 1000
        return AttemptResult(
            number=number,
            started_at_ms=int(started * 1000),
            outcome=classify_outcome(status, error),
            status_code=status,
            latency_ms=round(latency, 3),
            error=error,
            response_excerpt=excerpt,
            request_headers=headers,
            retry_after_s=retry_after,
        )

    async def _exchange(
        self, target: Target, message: Message, headers: dict[str, str], timeout: httpx.Timeout, lane: int
    ) -> tuple[int, bytes, str | None]:
        """POST and read at most the excerpt of the answer; a longer body is left unread (its connection
        is closed rather than drained)."""
        client = self.pool.client(lane)
        async with client.stream(
            "POST", target.url, content=message.payload, headers=headers, timeout=timeout
        ) as response:
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) <= SMALL_BODY_BYTES:
                body = (await response.aread())[:RESPONSE_EXCERPT_BYTES]
            else:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= RESPONSE_EXCERPT_BYTES:
                        break
                body = b"".join(chunks)[:RESPONSE_EXCERPT_BYTES]
            return response.status_code, body, response.headers.get("retry-after")


def header_id(event_id: str) -> str:
    """The event id as header text: printable ASCII ids unchanged; others percent-encoded (UTF-8), so every
    scheme can carry them (the signature covers the id as sent)."""
    if event_id.isascii() and event_id.isprintable():
        return event_id
    return quote(event_id, safe="!#$&'()*+,-./:;=?@[]^_`{|}~")


def clean_text(text: str) -> str:
    """Text as the store can keep it on every backend: NUL becomes U+FFFD."""
    return text.replace("\x00", "\ufffd")


def describe_transport_error(exc: httpx.TransportError) -> str:
    """A short, classifiable description of a transport failure (never includes request headers)."""
    causes: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return "connection reset by peer"
    text = str(exc) or type(exc).__name__
    if any(isinstance(c, socket.gaierror) for c in causes):
        return f"dns: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"remote closed the connection: {text}"
    return f"{type(exc).__name__}: {text}"


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now_s)
    except (TypeError, ValueError, IndexError):
        return None
