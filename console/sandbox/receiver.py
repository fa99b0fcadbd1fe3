"""The sandbox receiver: a real HTTP server that verifies signatures the way a real receiver does, dedupes by
event id, injects faults on request, and logs what it received as JSON Lines.

Routes: `POST <endpoint path>` for every endpoint in endpoints.toml (matched by URL path), and
`GET /_receiver/stats` with the counts tests and the demo read (acknowledgements per event included).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import orjson

from console.domain.endpoint import EndpointConfig
from console.endpoints import EndpointsFile, resolve_secrets
from console.signing import SignatureError, id_header, verify

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
HANG_S = 60.0


@dataclass(frozen=True)
class Faults:
    """What the receiver does wrong on purpose."""

    fail_rate: float = 0.0
    status: int = 503
    timeout_rate: float = 0.0
    latency_ms: float = 0.0
    retry_after_s: int | None = None
    down_for_s: float = 0.0  # answer every request with `status` for this long after start
    seed: int | None = None
    # What a 200 answer's body looks like: a NUL byte in it; this many bytes in all (streamed in 64 KiB chunks);
    # sent one byte every `drip_s` seconds. A streamed body stops when the client goes away.
    nul_body: bool = False
    body_bytes: int = 0
    drip_s: float = 0.0


@dataclass
class _Route:
    endpoint: EndpointConfig
    secrets: list[str]
    received: int = 0
    verified: int = 0
    rejected: int = 0
    faulted: int = 0
    duplicates: int = 0
    body_bytes_sent: int = 0
    acks: Counter[str] = field(default_factory=Counter)


class Receiver:
    """An ASGI application verifying webhooks for the endpoints of one endpoints.toml."""

    def __init__(
        self,
        config: EndpointsFile,
        faults: Faults,
        *,
        only: tuple[str, ...] = (),
        log: IO[bytes] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.log = log
        self.started = time.monotonic()
        self.routes: dict[str, _Route] = {}
        for endpoint in config.endpoints:
            if only and endpoint.id not in only:
                continue
            secrets = [s.reveal() for s in resolve_secrets(endpoint, config.path.parent, env)]
            path = urlsplit(endpoint.url).path or "/"
            self.routes[path] = _Route(endpoint, secrets)

    def body_bytes_sent(self) -> int:
        """Bytes of streamed answer bodies sent so far (the `body_bytes` and `drip_s` faults)."""
        return sum(route.body_bytes_sent for route in self.routes.values())

    def stats(self) -> dict[str, Any]:
        per_endpoint = {
            route.endpoint.id: {
                "received": route.received,
                "verified": route.verified,
                "rejected": route.rejected,
                "faulted": route.faulted,
                "acknowledged": sum(route.acks.values()),
                "unique_events": len(route.acks),
                "duplicates": route.duplicates,
                "acks": dict(route.acks),
            }
            for route in self.routes.values()
        }
        totals = Counter[str]()
        for numbers in per_endpoint.values():
            for key in (
                "received",
                "verified",
                "rejected",
                "faulted",
                "acknowledged",
                "unique_events",
                "duplicates",
            ):
                totals[key] += numbers[key]  # type: ignore[operator]
        return {**totals, "endpoints": per_endpoint}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/_receiver/stats":
            await _respond(send, 200, orjson.dumps(self.stats()))
            return
        route = self.routes.get(path)
        if route is None or method != "POST":
            await _respond(send, 404 if route is None else 405, b'{"error":"no such endpoint"}')
            return
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        await self._handle(route, headers, body, send, receive)

    async def _handle(
        self, route: _Route, headers: dict[str, str], body: bytes, send: Send, receive: Receive | None = None
    ) -> None:
        route.received += 1
        event_id = headers.get(id_header(route.endpoint.scheme.value).lower(), "")
        entry: dict[str, Any] = {
            "at": round(time.time(), 3),
            "endpoint_id": route.endpoint.id,
            "event_id": event_id,
        }
        try:
            verify(
                route.endpoint.scheme.value,
                route.secrets,
                headers,
                body,
                int(time.time()),
                convoy=route.endpoint.convoy,
            )
        except SignatureError as exc:
            route.rejected += 1
            self._log({**entry, "status": 401, "verified": False, "reason": str(exc)})
            await _respond(
                send, 401, orjson.dumps({"error": "signature verification failed", "reason": str(exc)})
            )
            return
        route.verified += 1
        faults = self.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        down = faults.down_for_s and time.monotonic() - self.started < faults.down_for_s
        if down or (faults.fail_rate and self.rng.random() < faults.fail_rate):
            route.faulted += 1
            self._log(
                {**entry, "status": faults.status, "verified": True, "fault": "down" if down else "fail"}
            )
            extra = (
                [(b"retry-after", str(faults.retry_after_s).encode())]
                if faults.retry_after_s is not None and faults.status in (429, 503)
                else []
            )
            await _respond(send, faults.status, b'{"error":"injected failure"}', extra)
            return
        if faults.timeout_rate and self.rng.random() < faults.timeout_rate:
            route.faulted += 1
            self._log({**entry, "status": None, "verified": True, "fault": "timeout"})
            await _hang(receive)
            return
        duplicate = event_id in route.acks
        route.acks[event_id] += 1
        if duplicate:
            route.duplicates += 1
        self._log({**entry, "status": 200, "verified": True, "duplicate": duplicate})
        answer = b'{"ok":true,"duplicate":true}' if duplicate else b'{"ok":true}'
        if faults.nul_body:
            answer = b'{"ok":true,"note":"\x00"}'
        if faults.body_bytes or faults.drip_s:
            await self._stream(route, send, receive, answer)
            return
        await _respond(send, 200, answer)

    async def _stream(self, route: _Route, send: Send, receive: Receive | None, answer: bytes) -> None:
        """A 200 answer without a length, streamed (padded to `body_bytes`, dripped every `drip_s`)."""
        faults = self.faults
        total = max(faults.body_bytes, len(answer))
        step = 1 if faults.drip_s else 64 * 1024
        gone = asyncio.Event()

        async def watch() -> None:
            while receive is not None:
                if (await receive())["type"] == "http.disconnect":
                    gone.set()
                    return

        watcher = asyncio.create_task(watch())
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        try:
            position = 0
            while position < total and not gone.is_set():
                chunk = answer[position : position + step] if position < len(answer) else b" " * step
                chunk = chunk[: total - position]
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                position += len(chunk)
                route.body_bytes_sent += len(chunk)
                await asyncio.sleep(faults.drip_s)
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()

    def _log(self, entry: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.write(orjson.dumps(entry) + b"\n")
            self.log.flush()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _hang(receive: Receive | None) -> None:
    """Never answer: until the client goes away, or HANG_S."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HANG_S):
            while receive is not None and (await receive())["type"] != "http.disconnect":
                pass
            if receive is None:
                await asyncio.sleep(HANG_S)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve(receiver: Receiver, host: str, port: int, ready: Callable[[int], None] | None = None) -> None:
    """Run the receiver with uvicorn until interrupted (loopback addresses only)."""
    import uvicorn

    config = uvicorn.Config(
        receiver,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    if ready is not None:
        original = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets)
            bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
            ready(bound)

        server.startup = startup  # type: ignore[method-assign]
    server.run()


def open_log(path: Path | None) -> IO[bytes] | None:
    return path.open("ab") if path is not None else None
