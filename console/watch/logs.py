"""One line per notable thing on stderr: text for people, or JSON (`--json-logs`) for log shippers.

Whatever the names in a message hold (a newline, terminal escapes, bytes of a file name that are not UTF-8),
each entry stays one valid line: escaped on a text line, valid UTF-8 in JSON (console/domain/safetext.py).
Logging never raises: a line that cannot be written (stderr gone) is dropped, and the thread goes on.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

import orjson

from console.domain.safetext import one_line, valid_utf8
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
            entry = {"at": at, "level": level, "event": event, "message": message, **fields}
            safe = {
                key: valid_utf8(value) if isinstance(value, str) else value for key, value in entry.items()
            }
            line = orjson.dumps(safe, default=lambda value: valid_utf8(str(value))).decode()
        else:
            line = f"{at} {level:<7} {one_line(message)}"
        stream = self.stream or sys.stderr
        with self._lock:
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):  # stderr closed or gone: nowhere left to say it
                pass

    def info(self, event: str, message: str, **fields: Any) -> None:
        self._write("info", event, message, fields)

    def warning(self, event: str, message: str, **fields: Any) -> None:
        self._write("warning", event, message, fields)

    def error(self, event: str, message: str, **fields: Any) -> None:
        self._write("error", event, message, fields)
