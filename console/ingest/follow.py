"""`ingest --follow`: tail a growing JSON Lines file into the store until stopped.

Only complete lines are ingested (a line still being written waits for its newline; one that grows past the
maximum line length is rejected at once and the rest of it dropped, so memory stays bounded). A rotated file (a new
inode at the path) is read to its end and then the new file from its start; a truncated file is read again
from its start (noticed by its size shrinking or its first bytes changing). Pending lines are written at least every `flush_s` seconds.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from console.ingest.ingestor import Ingestor, IngestSummary, RejectSink
from console.ingest.mapping import LogMapping
from console.ingest.sources import (
    MAX_LINE_BYTES,
    REJECT_HEAD_BYTES,
    RawLine,
    SourceError,
    first_line,
    too_long,
)
from console.store import Store

READ_CHUNK = 1 << 16
HEAD_BYTES = 256  # what is compared to notice a file rewritten in place


class _Tail:
    """One open file being followed, with the partial last line and the line count so far."""

    def __init__(self, path: str, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        try:
            self.file = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise SourceError(f"{path}: no such file") from None
        except OSError as exc:
            raise SourceError(f"{path}: cannot be read ({exc.strerror})") from None
        if self.file.read(2) == b"\x1f\x8b":
            self.file.close()
            raise SourceError(f"{path}: --follow cannot tail a gzip file")
        self.file.seek(0)
        self.inode = os.fstat(self.file.fileno()).st_ino
        self.max_line_bytes = max_line_bytes
        self.partial: list[bytes] = []  # the start of a line whose newline has not come yet
        self.partial_size = 0
        self.skipping = False  # inside a line over the limit, already rejected: dropped up to its newline
        self.line_number = 0
        self.head = b""

    def rewritten(self) -> bool:
        """True when the file no longer starts with what was read: truncated and written again."""
        if not self.head:
            return False
        return os.pread(self.file.fileno(), len(self.head), 0) != self.head

    def restart(self) -> None:
        self.file.seek(0)
        self.partial, self.partial_size, self.skipping = [], 0, False
        self.line_number = 0
        self.head = b""

    def read_lines(self) -> list[RawLine]:
        data = self.file.read(READ_CHUNK)
        if not data:
            return []
        if len(self.head) < HEAD_BYTES:
            self.head = (self.head + data)[:HEAD_BYTES]
        records: list[RawLine] = []
        end = data.find(b"\n")
        if end < 0:
            self._hold(data, records)
            return records
        first, data = data[: end + 1], data[end + 1 :]
        if self.skipping:
            self.skipping = False
        else:
            self._line(b"".join([*self.partial, first]), records)
        self.partial, self.partial_size = [], 0
        chunks = data.split(b"\n")
        rest = chunks.pop()
        for chunk in chunks:
            self._line(chunk + b"\n", records)
        if rest:
            self._hold(rest, records)
        return records

    def _line(self, raw: bytes, records: list[RawLine]) -> None:
        self.line_number += 1
        if self.line_number == 1:
            raw = first_line(raw)
        if len(raw) - 1 > self.max_line_bytes:
            records.append(
                RawLine(self.line_number, raw[:REJECT_HEAD_BYTES], error=too_long(self.max_line_bytes))
            )
        elif raw.strip():
            records.append(RawLine(self.line_number, raw))

    def _hold(self, data: bytes, records: list[RawLine]) -> None:
        """Keep the start of an unfinished line, up to the limit: past it the line is rejected at once and
        the rest of it dropped as it comes."""
        if self.skipping:
            return
        self.partial.append(data)
        self.partial_size += len(data)
        if self.partial_size > self.max_line_bytes:
            self.line_number += 1
            head = b"".join(self.partial)[:REJECT_HEAD_BYTES]
            records.append(RawLine(self.line_number, head, error=too_long(self.max_line_bytes)))
            self.partial, self.partial_size, self.skipping = [], 0, True

    def close(self) -> None:
        self.file.close()


def follow(
    store: Store,
    path: str,
    stop: threading.Event,
    *,
    rejects: RejectSink | None = None,
    poll_s: float = 0.2,
    flush_s: float = 1.0,
    on_flush: Callable[[IngestSummary], None] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    mapping: LogMapping | None = None,
) -> IngestSummary:
    """Tail `path` into the store until `stop` is set; returns the totals. `mapping`: read a mapped log."""
    ingestor = Ingestor(store, rejects or RejectSink(), mapping=mapping)
    tail = _Tail(path, max_line_bytes)
    ingestor.summary.sources.append(path)
    started = last_flush = time.monotonic()
    try:
        while True:
            records = tail.read_lines()
            for record in records:
                ingestor.add(path, record)
            if not records:
                tail = _reopen_if_moved(tail, path, max_line_bytes)
            now = time.monotonic()
            if len(ingestor.pending) and (now - last_flush >= flush_s or stop.is_set()):
                ingestor.flush()
                last_flush = now
                if on_flush is not None:
                    ingestor.summary.seconds = now - started
                    on_flush(ingestor.summary)
            if stop.is_set():
                break
            if not records:
                stop.wait(poll_s)
    finally:
        ingestor.flush()
        tail.close()
    ingestor.summary.seconds = time.monotonic() - started
    return ingestor.summary


def _reopen_if_moved(tail: _Tail, path: str, max_line_bytes: int) -> _Tail:
    """At the end of the data: follow a rotation to the new file, or a truncation back to the start."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return tail  # rotated away and not yet recreated: keep waiting
    if current.st_ino != tail.inode:
        try:
            fresh = _Tail(path, max_line_bytes)
        except SourceError:
            return tail
        tail.close()
        return fresh
    if current.st_size < tail.file.tell() or tail.rewritten():
        tail.restart()
    return tail
