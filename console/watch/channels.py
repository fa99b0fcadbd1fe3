"""Notification channels: render a notification for each kind and try it once.

HTTP goes through the sender's pieces (console.delivery: its client pool, outcome classification, Retry-After
parsing and transport error descriptions); retrying with backoff is the outbox's job, so a channel that is down
never holds up the rules. Secrets are resolved at send time and never printed.

- webhook: the notification JSON, signed with Standard Webhooks when `secret` is set (`webhook-id` is the
  notification id, so a receiver can drop a repeat).
- slack: Slack's incoming-webhook JSON, `{"text": ...}`.
- pagerduty: Events API v2, trigger on firing and resolve on resolved, dedup key `hookconsole/<rule>/<endpoint>`.
- command: the program gets the notification JSON on stdin; exit status 0 means delivered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from console.delivery import RETRYABLE_STATUS, ClientPool, describe_transport_error, parse_retry_after
from console.domain.endpoint import Scheme, Secret
from console.endpoints import resolve_secret, secret_format_problem
from console.signing import sign
from console.watch.rules import AlertsConfig, Channel, ChannelKind

CONNECT_TIMEOUT_S = 5.0
EMOJI = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}


@dataclass(frozen=True)
class TryResult:
    """One try of one notification on one channel."""

    ok: bool
    retryable: bool = True
    retry_after_s: float | None = None
    error: str | None = None


def slack_body(note: Mapping[str, Any]) -> bytes:
    """Slack incoming-webhook JSON: a readable line plus what broke, since when, how many undelivered."""
    state = str(note["state"])
    head = f"{EMOJI.get(state, '')} *{note['rule']}* {state.upper()} on `{note['endpoint']}`".strip()
    lines = [head, str(note["summary"])]
    if note.get("since"):
        lines.append(f"since {note['since']} · {note['undelivered']} undelivered · at {note['at']}")
    return orjson.dumps({"text": "\n".join(lines)})


def pagerduty_body(note: Mapping[str, Any], routing_key: str, severity: str) -> bytes:
    """Events API v2: trigger or resolve, deduplicated per rule and endpoint."""
    dedup = f"hookconsole/{note['rule']}/{note['endpoint']}"
    if note["state"] == "resolved":
        return orjson.dumps({"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup})
    event = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {
            "summary": str(note["summary"])[:1024],
            "source": f"hookconsole/{note['endpoint']}",
            "severity": severity,
            "component": str(note["endpoint"]),
            "group": "webhooks",
            "class": str(note["metric"]),
            "custom_details": dict(note),
        },
    }
    return orjson.dumps(event)


class ChannelSender:
    """Tries one notification on one channel; one per process (it owns the HTTP clients)."""

    def __init__(self, config: AlertsConfig, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.env = env
        self.pool: ClientPool | None = None

    def _pool(self) -> ClientPool:
        if self.pool is None:
            self.pool = ClientPool(4)
        return self.pool

    async def aclose(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()
            self.pool = None

    def _secret(self, channel: Channel, ref: str, key: str) -> str:
        try:
            return resolve_secret(ref, self.config.base_dir, self.env).reveal()
        except LookupError as exc:
            raise LookupError(f"channel {channel.name!r}: {key} {ref}: {exc}") from None

    async def try_send(self, channel: Channel, notification_id: str, body: bytes) -> TryResult:
        try:
            if channel.kind is ChannelKind.COMMAND:
                return await self._run(channel, body)
            headers = {"content-type": "application/json"}
            payload = body
            if channel.kind is ChannelKind.WEBHOOK and channel.secret_ref:
                secret = self._secret(channel, channel.secret_ref, "secret")
                problem = secret_format_problem(Scheme.STANDARD, Secret(secret))
                if problem:
                    return TryResult(False, True, error=f"secret {channel.secret_ref}: {problem}")
                headers.update(sign("standard", [secret], notification_id, int(time.time()), body))
            elif channel.kind is ChannelKind.SLACK:
                payload = slack_body(orjson.loads(body))
            elif channel.kind is ChannelKind.PAGERDUTY:
                assert channel.routing_key_ref is not None
                key = self._secret(channel, channel.routing_key_ref, "routing_key")
                payload = pagerduty_body(orjson.loads(body), key, channel.severity)
            else:
                headers["webhook-id"] = notification_id
            return await self._post(channel, payload, headers)
        except LookupError as exc:
            return TryResult(False, True, error=str(exc))

    async def _post(self, channel: Channel, payload: bytes, headers: dict[str, str]) -> TryResult:
        assert channel.url is not None
        timeout = httpx.Timeout(channel.timeout_s, connect=min(CONNECT_TIMEOUT_S, channel.timeout_s))
        try:
            response = (
                await self._pool()
                .client(0)
                .post(channel.url, content=payload, headers=headers, timeout=timeout)
            )
        except httpx.TimeoutException:
            return TryResult(False, True, error=f"timeout after {channel.timeout_s:g}s")
        except httpx.TransportError as exc:
            return TryResult(False, True, error=describe_transport_error(exc))
        status = response.status_code
        if 200 <= status < 300:
            return TryResult(True)
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
        return TryResult(False, status in RETRYABLE_STATUS, retry_after, f"HTTP {status}")

    async def _run(self, channel: Channel, body: bytes) -> TryResult:
        try:
            process = await asyncio.create_subprocess_exec(
                *channel.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            return TryResult(False, True, error=f"cannot run {channel.command[0]}: {exc.strerror or exc}")
        try:
            _, stderr = await asyncio.wait_for(process.communicate(body), channel.timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            return TryResult(
                False, True, error=f"{channel.command[0]} did not finish within {channel.timeout_s:g}s"
            )
        if process.returncode == 0:
            return TryResult(True)
        last = (stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return TryResult(
            False, True, error=f"{channel.command[0]} exited {process.returncode}: {last[0][:200]}"
        )
