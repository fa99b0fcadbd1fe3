"""Checks of notification bodies against the receivers' published formats, written from their documentation (not
from our code): each returns the problems found, one line each, empty when the body conforms.

- PagerDuty Events API v2 (`POST https://events.pagerduty.com/v2/enqueue`): `routing_key` (the integration key,
  32 characters), `event_action` one of trigger / acknowledge / resolve, `dedup_key` at most 255 characters
  (required to acknowledge or resolve); a trigger carries `payload` with `summary` (required, at most 1024
  characters), `source` (required), `severity` (required: critical, error, warning or info), optional
  `timestamp` (ISO 8601), `component`, `group`, `class` (strings) and `custom_details` (an object).
- Slack incoming webhooks with Block Kit: `text` (a string, the notification fallback) and `blocks` (at most 50);
  a `section` has `text` (a text object, at most 3000 characters) and/or `fields` (at most 10 text objects, each
  at most 2000 characters); a text object is `{"type": "plain_text" | "mrkdwn", "text": ...}`; a `header` has a
  plain_text of at most 150 characters; a `context` at most 10 elements; a `divider` nothing else.
- Microsoft Teams incoming webhooks / Workflows: `{"type": "message", "attachments": [...]}`, each attachment
  `{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <AdaptiveCard>}`;
  the card `{"type": "AdaptiveCard", "version": "1.x", "body": [...]}` whose elements have a `type`
  (TextBlock with `text`, FactSet with `facts` of `{"title", "value"}` strings, ...); a message is at most 28 KB.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}
SLACK_TEXT_TYPES = {"plain_text", "mrkdwn"}
TEAMS_ELEMENTS = {"TextBlock", "FactSet", "ColumnSet", "Container", "Image", "ActionSet", "RichTextBlock"}
TEAMS_MAX_BYTES = 28 * 1024


def pagerduty_problems(body: Any) -> list[str]:
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["not a JSON object"]
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        problems.append(f"routing_key must be the 32-character integration key, got {key!r}")
    action = body.get("event_action")
    if action not in PD_ACTIONS:
        problems.append(f"event_action must be one of {sorted(PD_ACTIONS)}, got {action!r}")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        problems.append(f"dedup_key must be a string of at most 255 characters, got {len(str(dedup))}")
    if action in ("acknowledge", "resolve") and not dedup:
        problems.append(f"{action} needs the dedup_key of the incident")
    if action != "trigger":
        return problems
    payload = body.get("payload")
    if not isinstance(payload, dict):
        return [*problems, "a trigger needs a payload object"]
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary or len(summary) > 1024:
        problems.append(f"payload.summary must be 1-1024 characters, got {len(str(summary))}")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        problems.append("payload.source is required")
    if payload.get("severity") not in PD_SEVERITIES:
        problems.append(
            f"payload.severity must be one of {sorted(PD_SEVERITIES)}, got {payload.get('severity')!r}"
        )
    if "timestamp" in payload:
        try:
            datetime.fromisoformat(str(payload["timestamp"]).replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"payload.timestamp must be ISO 8601, got {payload['timestamp']!r}")
    for name in ("component", "group", "class"):
        if name in payload and not isinstance(payload[name], str):
            problems.append(f"payload.{name} must be a string")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        problems.append("payload.custom_details must be an object")
    return problems


def _slack_text(obj: Any, where: str, limit: int) -> list[str]:
    if (
        not isinstance(obj, dict)
        or obj.get("type") not in SLACK_TEXT_TYPES
        or not isinstance(obj.get("text"), str)
    ):
        return [f"{where} must be a text object (plain_text or mrkdwn)"]
    if not 0 < len(obj["text"]) <= limit:
        return [f"{where} must be 1-{limit} characters, got {len(obj['text'])}"]
    return []


def slack_problems(body: Any) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return ["a message needs a `text` string (the notification fallback)"]
    problems: list[str] = []
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return ["blocks must be a list of at most 50 blocks"]
    for n, block in enumerate(blocks):
        where = f"blocks[{n}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{where}: a section needs text or fields")
            if "text" in block:
                problems += _slack_text(block["text"], f"{where}.text", 3000)
            fields = block.get("fields", [])
            if not isinstance(fields, list) or len(fields) > 10:
                problems.append(f"{where}.fields: at most 10")
            for i, field in enumerate(fields if isinstance(fields, list) else []):
                problems += _slack_text(field, f"{where}.fields[{i}]", 2000)
        elif kind == "header":
            text = block.get("text")
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                problems.append(f"{where}: a header's text is plain_text")
            else:
                problems += _slack_text(text, f"{where}.text", 150)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10:
                problems.append(f"{where}: a context has 1-10 elements")
            for i, element in enumerate(elements or []):
                problems += _slack_text(element, f"{where}.elements[{i}]", 3000)
        elif kind != "divider":
            problems.append(f"{where}: unexpected block type {kind!r}")
    return problems


def teams_problems(body: Any) -> list[str]:
    if not isinstance(body, dict) or body.get("type") != "message":
        return ['a Teams message is {"type": "message", "attachments": [...]}']
    problems: list[str] = []
    if len(orjson.dumps(body)) > TEAMS_MAX_BYTES:
        problems.append(f"a message is at most {TEAMS_MAX_BYTES} bytes")
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return [*problems, "attachments must be a non-empty list"]
    for n, attachment in enumerate(attachments):
        where = f"attachments[{n}]"
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            problems.append(f"{where}.contentType must be application/vnd.microsoft.card.adaptive")
        if "contentUrl" in attachment and attachment["contentUrl"] is not None:
            problems.append(f"{where}.contentUrl must be null")
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            problems.append(f"{where}.content must be an AdaptiveCard")
            continue
        if not str(card.get("version", "")).startswith("1."):
            problems.append(f"{where}.content.version must be 1.x, got {card.get('version')!r}")
        for i, element in enumerate(card.get("body", [])):
            kind = element.get("type")
            if kind not in TEAMS_ELEMENTS:
                problems.append(f"{where}.content.body[{i}]: unknown element {kind!r}")
            if kind == "TextBlock" and not isinstance(element.get("text"), str):
                problems.append(f"{where}.content.body[{i}]: a TextBlock needs text")
            if kind == "FactSet":
                facts = element.get("facts")
                if not isinstance(facts, list) or not all(
                    isinstance(f, dict)
                    and isinstance(f.get("title"), str)
                    and isinstance(f.get("value"), str)
                    for f in facts
                ):
                    problems.append(f"{where}.content.body[{i}]: facts are {{title, value}} strings")
    return problems
