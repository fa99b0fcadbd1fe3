"""Notification channels: render a notification for each kind and try it once.

HTTP goes through the sender's pieces (console.delivery: its client pool, outcome classification, Retry-After
parsing and transport error descriptions); retrying with backoff is the outbox's job, so a channel that is down
never holds up the rules. Secrets are resolved at send time and never printed. One try never lasts longer than
the channel's `timeout_s` in all (connecting, sending, the answer however slowly it comes, a command's run), and
at most `ANSWER_LIMIT_BYTES` of an answer are read (a longer one is cut, its connection closed, and said so; the
try still counts by its status).

- webhook: the notification JSON, signed with Standard Webhooks when `secret` is set (`webhook-id` is the
  notification id, so a receiver can drop a repeat).
- slack: Slack's incoming-webhook JSON, `text` plus Block Kit `blocks`; what comes from the log or the rules is
  escaped (`&`, `<`, `>`), so an endpoint id cannot mention `@channel` or make a link.
- pagerduty: Events API v2, trigger on firing and resolve on resolved, dedup key `hookconsole/<rule>/<endpoint>`.
- teams: a Teams incoming-webhook / Workflows `message` with one Adaptive Card in `attachments`; Markdown in
  what comes from the log or the rules is escaped.
- command: the program gets the notification JSON on stdin; exit status 0 means delivered. Only the program
  is waited for: a child it leaves running (holding its output) does not hold the try.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
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
from console.domain import formatting as fmt
from console.domain.endpoint import Scheme, Secret
from console.endpoints import resolve_secret, secret_format_problem
from console.signing import sign
from console.watch.rules import PD_SEVERITIES, AlertsConfig, Channel, ChannelKind

CONNECT_TIMEOUT_S = 5.0
ANSWER_LIMIT_BYTES = 64 * 1024  # of a channel's answer, read at most
STDERR_TAIL_BYTES = 4096  # of a failed command's output, read for its last line
EMOJI = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}
# Published limits of each kind's body (docs/alerts.md, Channels).
SLACK_TEXT, SLACK_SECTION, SLACK_FIELD, SLACK_FIELDS = 3000, 3000, 2000, 10
PD_SUMMARY, PD_DEDUP = 1024, 255
TEAMS_MARKDOWN = frozenset("\\`*_[]<>#~|")  # links, emphasis, code, headings, tables


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


def cut(text: str, limit: int) -> str:
    """`text` at most `limit` characters, an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _details(note: Mapping[str, Any]) -> Mapping[str, Any]:
    details = note.get("details")
    return details if isinstance(details, Mapping) else {}


def incident_lines(note: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The incident details as (title, text) pairs, plain text: what failed, samples, oldest, the replay line."""
    details = _details(note)
    pairs: list[tuple[str, str]] = []
    failures = details.get("failures") or []
    if failures:
        window = fmt.duration(int(details.get("window_s") or 0) * 1000)
        shown = ", ".join(f"{f['label']}: {f['count']}" for f in failures)
        pairs.append((f"Failures (last {window})", shown))
    if details.get("sample_event_ids"):
        pairs.append(("Sample events", ", ".join(details["sample_event_ids"])))
    if details.get("oldest_undelivered_age_s") is not None:
        oldest = fmt.duration(int(details["oldest_undelivered_age_s"]) * 1000)
        pairs.append(("Oldest undelivered", f"{oldest} ago ({note.get('undelivered', 0)} undelivered)"))
    if note.get("since"):
        pairs.append(("Since", str(note["since"])))
    return pairs


def _headline(note: Mapping[str, Any]) -> str:
    what = "source" if note.get("source") else "endpoint"
    return f"{note['rule']} {str(note['state']).upper()} on {what} {note['endpoint']}"


def slack_body(note: Mapping[str, Any]) -> bytes:
    """Slack incoming-webhook JSON: `text` (the notification's fallback line) and Block Kit `blocks`: a section
    with the rule, state and summary, one with the incident details as fields, the replay line as code, and a
    context line. Within Slack's limits: section text 3,000 characters, at most 10 fields of 2,000 each."""
    state = str(note["state"])
    rule, endpoint = slack_escape(note["rule"]), slack_escape(note["endpoint"])
    head = f"{EMOJI.get(state, '')} *{rule}* {slack_escape(state.upper())} on `{endpoint}`".strip()
    summary = slack_escape(note["summary"])
    lines = [head, summary]
    if note.get("since"):
        lines.append(
            slack_escape(f"since {note['since']} · {note['undelivered']} undelivered · at {note['at']}")
        )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(f"{head}\n{summary}", SLACK_SECTION)}}
    ]
    fields = [
        {"type": "mrkdwn", "text": cut(f"*{slack_escape(title)}*\n{slack_escape(text)}", SLACK_FIELD)}
        for title, text in incident_lines(note)[:SLACK_FIELDS]
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    replay = _details(note).get("replay")
    if replay:
        code = cut(slack_escape(replay), SLACK_SECTION - 8)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{code}```"}})
    if note.get("at"):
        context = {"type": "mrkdwn", "text": slack_escape(f"hookconsole · {note['at']}")}
        blocks.append({"type": "context", "elements": [context]})
    return orjson.dumps({"text": cut("\n".join(lines), SLACK_TEXT), "blocks": blocks})


def pagerduty_dedup_key(note: Mapping[str, Any]) -> str:
    """`hookconsole/<rule>/<endpoint>`; a digest of it when longer than the 255 characters PagerDuty keeps."""
    key = f"hookconsole/{note['rule']}/{note['endpoint']}"
    return key if len(key) <= PD_DEDUP else "hookconsole/" + hashlib.sha256(key.encode()).hexdigest()


def pagerduty_body(note: Mapping[str, Any], routing_key: str, severity: str) -> bytes:
    """Events API v2: trigger or resolve, deduplicated per rule and endpoint (or source). The rule's severity,
    when it gives one, wins over the channel's."""
    dedup = pagerduty_dedup_key(note)
    if note["state"] == "resolved":
        return orjson.dumps({"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup})
    rule_severity = note.get("severity")
    event = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {
            "summary": cut(str(note["summary"]), PD_SUMMARY),
            "source": f"hookconsole/{note['endpoint']}",
            "severity": rule_severity if rule_severity in PD_SEVERITIES else severity,
            "timestamp": str(note.get("at", "")),
            "component": str(note["endpoint"]),
            "group": "sources" if note.get("source") else "webhooks",
            "class": str(note.get("metric", "")),
            "custom_details": dict(note),
        },
    }
    return orjson.dumps(event)


def teams_escape(text: object) -> str:
    """Text as a Teams card shows it literally: Markdown's special characters backslash-escaped (no link, no
    emphasis from an endpoint id)."""
    return "".join(f"\\{c}" if c in TEAMS_MARKDOWN else c for c in str(text))


def teams_body(note: Mapping[str, Any]) -> bytes:
    """A Teams incoming-webhook (or Workflows) message: one Adaptive Card in `attachments`, with the headline,
    the summary, the incident details as facts and the replay line in monospace."""
    firing = note["state"] == "firing"
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": teams_escape(_headline(note)),
            "weight": "Bolder",
            "size": "Medium",
            "color": "Attention" if firing else "Good",
            "wrap": True,
        },
        {"type": "TextBlock", "text": teams_escape(note["summary"]), "wrap": True},
    ]
    facts = [{"title": teams_escape(t), "value": teams_escape(v)} for t, v in incident_lines(note)]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    replay = _details(note).get("replay")
    if replay:
        body.append(
            {"type": "TextBlock", "text": teams_escape(replay), "fontType": "Monospace", "wrap": True}
        )
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card,
    }
    return orjson.dumps(
        {"type": "message", "summary": cut(str(note["summary"]), 150), "attachments": [attachment]}
    )


def render(channel: Channel, note: Mapping[str, Any], routing_key: str = "") -> bytes:
    """The body a slack, teams or pagerduty channel posts for a notification."""
    if channel.kind is ChannelKind.SLACK:
        return slack_body(note)
    if channel.kind is ChannelKind.TEAMS:
        return teams_body(note)
    return pagerduty_body(note, routing_key, channel.severity)


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
            elif channel.kind in (ChannelKind.SLACK, ChannelKind.TEAMS, ChannelKind.PAGERDUTY):
                key = ""
                if channel.kind is ChannelKind.PAGERDUTY:
                    assert channel.routing_key_ref is not None
                    key = self._secret(channel, channel.routing_key_ref, "routing_key")
                try:
                    payload = render(channel, orjson.loads(body), key)
                except (
                    KeyError,
                    TypeError,
                    ValueError,
                ) as exc:  # a body not written by this version: refused
                    why = f"missing {exc}" if isinstance(exc, KeyError) else type(exc).__name__
                    return TryResult(
                        False, False, error=f"cannot render the {channel.kind.value} body: {why}"
                    )
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
