"""One line per notable thing on stderr: text for people, or JSON (`--json-logs`) for log shippers."""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

import orjson

from console.domain.times import format_ms, now_ms


class Log:
    """Thread-safe line logger. Callers never pass secrets: messages hold names and references only."""

    def __init__(self, stream: IO[str] | None = None, json_lines: bool = False) -> None:
        self.stream = stream
        self.json_lines = json_lines
        self._lock = threading.Lock()

    def _write(self, level: str, event: str, message: str, fields: dict[str, Any]) -> None:
        at = format_ms(now_ms())
        if self.json_lines:
            line = orjson.dumps(
                {"at": at, "level": level, "event": event, "message": message, **fields}
            ).decode()
        else:
            line = f"{at} {level:<7} {message}"
        stream = self.stream or sys.stderr
        with self._lock:
            stream.write(line + "\n")
            stream.flush()

    def info(self, event: str, message: str, **fields: Any) -> None:
        self._write("info", event, message, fields)

    def warning(self, event: str, message: str, **fields: Any) -> None:
        self._write("warning", event, message, fields)

    def error(self, event: str, message: str, **fields: Any) -> None:
        self._write("error", event, message, fields)
