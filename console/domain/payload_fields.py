"""Business fields of a payload (user, reward, amount, currency, event time), read through field paths.

Senders put them where they like: at the top level (`reward_id`), or inside an envelope (`data.reward_id`,
`payload.reward_id`, as Svix and Convoy users often do). Each field has a list of candidate paths, tried in
order; the first that holds a usable value wins. The defaults try the top level, then `data.`, then
`payload.`; a source URL (`payload.reward=data.reward.id`) or a mapping file's `[payload]` table sets its
own instead. A field no path finds is left empty (None), never zero: docs/payload-fields.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# field name -> the payload key it is read from by default
FIELD_KEYS: dict[str, str] = {
    "user": "user_id",
    "reward": "reward_id",
    "amount": "amount",
    "currency": "currency",
    "time": "timestamp",
}
ENVELOPES = ("", "data.", "payload.")
MAX_TEXT = 200
_PATH = re.compile(r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+){0,7}$")


def default_paths(name: str) -> tuple[str, ...]:
    return tuple(f"{envelope}{FIELD_KEYS[name]}" for envelope in ENVELOPES)


@dataclass(frozen=True)
class FieldPaths:
    """The candidate paths of each business field."""

    paths: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {name: default_paths(name) for name in FIELD_KEYS}
    )

    def with_path(self, name: str, path: str | Sequence[str]) -> FieldPaths:
        """These paths with `name` read from `path` alone, or from each of a list of paths in order
        (ValueError naming the field and what is wrong)."""
        if name not in FIELD_KEYS:
            raise ValueError(f"unknown payload field {name!r} (known: {', '.join(FIELD_KEYS)})")
        candidates = (path,) if isinstance(path, str) else tuple(path)
        if not candidates:
            raise ValueError(f"payload.{name}: needs at least one path, such as data.{FIELD_KEYS[name]}")
        for candidate in candidates:
            problem = path_problem(name, candidate)
            if problem:
                raise ValueError(f"payload.{name}: {problem}")
        return FieldPaths({**self.paths, name: candidates})


def path_problem(name: str, path: object) -> str | None:
    """Why `path` cannot be a path of the business field `name`, or None when it can."""
    if not isinstance(path, str):
        return f"a path must be a string, got {type(path).__name__}"
    if not _PATH.match(path):
        return f"{path!r} is not a dotted field path such as data.{FIELD_KEYS[name]} (at most 8 names of letters, digits, _, $ or -)"
    return None


def _at(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
        if value is None:
            return None
    return value


def text_value(value: Any) -> str | None:
    """An id or a currency: a non-empty string (cut at MAX_TEXT) or an integer; anything else is not one."""
    if isinstance(value, str):
        return value[:MAX_TEXT] if value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def amount_value(value: Any) -> str | None:
    """An amount as written: a number or a non-empty string (cut at MAX_TEXT)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        return str(value)[:MAX_TEXT] if value != "" else None
    return None


_READERS = {
    "user": text_value,
    "reward": text_value,
    "amount": amount_value,
    "currency": text_value,
    "time": text_value,
}


@dataclass(frozen=True)
class BusinessFields:
    user_id: str | None = None
    reward_id: str | None = None
    amount: str | None = None
    currency: str | None = None
    time: str | None = None  # as written; the caller parses it (RFC 3339)


def read_fields(document: object, paths: FieldPaths) -> BusinessFields:
    """The business fields of a decoded payload (all None when it is not a JSON object)."""
    if not isinstance(document, dict):
        return BusinessFields()
    found: dict[str, str | None] = {}
    for name, candidates in paths.paths.items():
        reader = _READERS[name]
        value = None
        for path in candidates:
            value = reader(_at(document, path))
            if value is not None:
                break
        found[name] = value
    return BusinessFields(found["user"], found["reward"], found["amount"], found["currency"], found["time"])


DEFAULT_PATHS = FieldPaths()
