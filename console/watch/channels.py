"""Notification channels: render a notification for each kind and try it once.

HTTP goes through the sender's pieces (console.delivery: its client pool, outcome classification, Retry-After
parsing and transport error descriptions); retrying with backoff is the outbox's job, so a channel that is down
never holds up the rules. Secrets are resolved at send time and never printed. One try never lasts longer than
the channel's `timeout_s` in all (connecting, sending, the answer however slowly it comes, a command's run), and
at most `ANSWER_LIMIT_BYTES` of an answer are read (a longer one is cut, its connection closed, and said so; the
try still counts by its status).

- webhook: the notification JSON, signed with Standard Webhooks when `secret` is set (`webhook-id` is the
  notification id, so a receiver can drop a repeat).
- slack: Slack's incoming-webhook JSON, `{"text": ...}`; what comes from the log or the rules is escaped
  (`&`, `<`, `>`), so an endpoint id cannot mention `@channel` or make a link.
- pagerduty: Events API v2, trigger on firing and resolve on resolved, dedup key `hookconsole/<rule>/<endpoint>`.
- command: the program gets the notification JSON on stdin; exit status 0 means delivered. Only the program
  is waited for: a child it leaves running (holding its output) does not hold the try.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from console.delivery import (
    RETRYABLE_STATUS,
    SHARD_CONNECTIONS,
    ClientPool,
    describe_transport_error,
    parse_retry_after,
)
from console.domain.endpoint import Scheme, Secret
from console.endpoints import resolve_secret, secret_format_problem
from console.signing import sign
from console.watch.rules import AlertsConfig, Channel, ChannelKind

CONNECT_TIMEOUT_S = 5.0
ANSWER_LIMIT_BYTES = 64 * 1024  # of a channel's answer, read at most
STDERR_TAIL_BYTES = 4096  # of a failed command's output, read for its last line
EMOJI = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}


@dataclass(frozen=True)
class TryResult:
    """One try of one notification on one channel."""

    ok: bool
    retryable: bool = True
    retry_after_s: float | None = None
    error: str | None = None


def slack_escape(text: object) -> str:
    """Text as Slack shows it literally: `&`, `<` and `>` as entities (no mention, no link, no command)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(note: Mapping[str, Any]) -> bytes:
    """Slack incoming-webhook JSON: a readable line plus what broke, since when, how many undelivered."""
    state = str(note["state"])
    rule, endpoint = slack_escape(note["rule"]), slack_escape(note["endpoint"])
    head = f"{EMOJI.get(state, '')} *{rule}* {slack_escape(state.upper())} on `{endpoint}`".strip()
    lines = [head, slack_escape(note["summary"])]
    if note.get("since"):
        lines.append(
            slack_escape(f"since {note['since']} · {note['undelivered']} undelivered · at {note['at']}")
        )
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


ALERTS_USER_AGENT = "hookconsole/0.1 (+alerts)"


class ChannelSender:
    """Tries one notification on one channel; one per process (it owns the HTTP clients)."""

    def __init__(self, config: AlertsConfig, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.env = env
        self.pool: ClientPool | None = None
        # each channel its own client (connections), so a channel holding its connections holds no other
        self.lanes = {channel.name: lane for lane, channel in enumerate(config.channels)}

    def _client(self, channel: Channel) -> httpx.AsyncClient:
        if self.pool is None:
            self.pool = ClientPool(max(1, len(self.lanes)) * SHARD_CONNECTIONS, user_agent=ALERTS_USER_AGENT)
        return self.pool.client(self.lanes.get(channel.name, 0))

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
            async with asyncio.timeout(channel.timeout_s):
                status, retry_value, cut = await self._exchange(channel, payload, headers, timeout)
        except (TimeoutError, httpx.TimeoutException):
            return TryResult(False, True, error=f"timeout: no complete answer within {channel.timeout_s:g}s")
        except httpx.TransportError as exc:
            return TryResult(False, True, error=describe_transport_error(exc))
        note = f"answer longer than {ANSWER_LIMIT_BYTES // 1024} KiB; not read past that" if cut else None
        if 200 <= status < 300:
            return TryResult(True, error=note)
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(retry_value, time.time())
        error = f"HTTP {status}" + (f" ({note})" if note else "")
        return TryResult(False, status in RETRYABLE_STATUS, retry_after, error)

    async def _exchange(
        self, channel: Channel, payload: bytes, headers: dict[str, str], timeout: httpx.Timeout
    ) -> tuple[int, str | None, bool]:
        """POST and read at most `ANSWER_LIMIT_BYTES` of the answer; (status, Retry-After, whether it was cut).
        A longer answer is left unread: leaving the stream closes its connection rather than draining it."""
        assert channel.url is not None
        client = self._client(channel)
        async with client.stream(
            "POST", channel.url, content=payload, headers=headers, timeout=timeout
        ) as response:
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > ANSWER_LIMIT_BYTES:
                    break
            return response.status_code, response.headers.get("retry-after"), size > ANSWER_LIMIT_BYTES

    async def _run(self, channel: Channel, body: bytes) -> TryResult:
        """Run the command with the notification on stdin; its stderr goes to a file, so only the program
        itself is waited for (a child it leaves behind may keep the file open as long as it likes)."""
        with tempfile.TemporaryFile() as output:
            try:
                process = await asyncio.create_subprocess_exec(
                    *channel.command,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=output,
                )
            except OSError as exc:
                return TryResult(False, True, error=f"cannot run {channel.command[0]}: {exc.strerror or exc}")
            try:
                async with asyncio.timeout(channel.timeout_s):
                    await _feed(process, body)
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
                return TryResult(
                    False, True, error=f"{channel.command[0]} did not finish within {channel.timeout_s:g}s"
                )
            if process.returncode == 0:
                return TryResult(True)
            last = _last_line(output)
            return TryResult(False, True, error=f"{channel.command[0]} exited {process.returncode}: {last}")


async def _feed(process: asyncio.subprocess.Process, body: bytes) -> None:
    """Write the notification to the program's stdin and close it; a program that does not read it is fine."""
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(body)
        await process.stdin.drain()
    process.stdin.close()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        await process.stdin.wait_closed()


def _last_line(output: Any) -> str:
    """The last line of a command's stderr (only its tail is read), at most 200 characters."""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - STDERR_TAIL_BYTES))
    lines = output.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:200] if lines else ""
