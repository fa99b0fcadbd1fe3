"""What endpoints.toml and alerts.toml share: reading the file, arrays of named tables, and problem lines.

A configuration file reports every problem at once, one line each, naming the file, the table and the key.
Configuration and secret files are read with a size limit (`read_capped`): a path that names a device or an
endless stream by mistake fails at once instead of filling the memory.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration file cannot be used; `problems` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Problems:
    """The problems of one table, each prefixed with where the table is."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.lines: list[str] = []

    def add(self, key: str, reason: str) -> None:
        self.lines.append(f"{self.where}: {key}: {reason}")


MAX_CONFIG_BYTES = 8 * 1024 * 1024  # endpoints.toml, alerts.toml, a mapping file: tens of thousands of tables


class TooLarge(Exception):
    """A file is larger than its limit (the message says the limit)."""


class NotRegularFile(Exception):
    """A directory, device, FIFO or socket where a regular file is required (the message says which)."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def _size_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit // 1024} KiB"


def read_capped(path: Path, limit: int, *, regular_only: bool = False) -> bytes:
    """The file's bytes: at most `limit` + 1 are read, and more than `limit` raises TooLarge. With
    `regular_only`, a directory, device, FIFO or socket is refused (NotRegularFile) before it is opened and
    again once open. OSError when the file cannot be opened or read."""
    if regular_only and not stat.S_ISREG(mode := os.stat(path).st_mode):
        raise NotRegularFile(f"is {_kind(mode)}, not a regular file")
    fd = os.open(path, os.O_RDONLY | (os.O_NONBLOCK if regular_only else 0))
    try:
        mode = os.fstat(fd).st_mode
        if regular_only and not stat.S_ISREG(mode):
            raise NotRegularFile(f"is {_kind(mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise TooLarge(f"is larger than {_size_text(limit)}")
    return b"".join(chunks)


def read_toml(path: Path, error: type[ConfigError], missing: str) -> dict[str, Any]:
    """The file's TOML document; `error` lists why it cannot be read (`missing` says what the file is)."""
    try:
        text = read_capped(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise error([f"{path}: {missing}"]) from None
    except UnicodeDecodeError as exc:
        raise error([f"{path}: not valid TOML: {exc}"]) from None
    except TooLarge as exc:
        raise error([f"{path}: {exc} (a configuration file is at most that)"]) from None
    except OSError as exc:
        raise error([f"{path}: cannot be read ({exc.strerror})"]) from None
    return parse_toml(text, str(path), error)


def parse_toml(text: str, name: str, error: type[ConfigError]) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error([f"{name}: not valid TOML: {exc}"]) from None


def unknown_sections(raw: Mapping[str, Any], name: str, sections: tuple[str, ...]) -> list[str]:
    expected = " and ".join(f"[[{s}]]" for s in sections)
    return [
        f"{name}: unknown top-level key {key!r} (expected {expected} tables)"
        for key in sorted(set(raw) - set(sections))
    ]


def parse_tables(
    raw: Mapping[str, Any],
    name: str,
    section: str,
    label_key: str,
    parse: Callable[[dict[str, Any], int, Problems], T | None],
    problems: list[str],
) -> list[T] | None:
    """Parse each table of the array `[[section]]`, in file order, adding every problem to `problems`.

    A table is named by its `label_key` (or its position); that key must be unique. None when `section` is not
    an array of tables.
    """
    tables = raw.get(section, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append(f"{name}: {section!r} must be an array of tables ([[{section}]])")
        return None
    parsed: list[T] = []
    seen: set[object] = set()
    for index, table in enumerate(tables, start=1):
        label = table.get(label_key)
        labelled = isinstance(label, str) and label
        where = f"{name}: {section} {label!r}" if labelled else f"{name}: {section} #{index}"
        found = Problems(where)
        value = parse(table, index, found)
        problems.extend(found.lines)
        if value is None:
            continue
        key = getattr(value, label_key)
        if key in seen:
            found.add(label_key, f"duplicate {label_key} (each {section} {label_key} must be unique)")
            problems.extend(found.lines[-1:])
            continue
        seen.add(key)
        parsed.append(value)
    return parsed


def is_secret_ref(value: object) -> bool:
    """True for a reference like `env:NAME` or `file:PATH` (never the secret itself)."""
    return isinstance(value, str) and value.startswith(("env:", "file:")) and bool(value.split(":", 1)[1])


NOT_A_REF = "must be a reference like env:NAME or file:PATH, not the secret itself"
