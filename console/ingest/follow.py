"""Following a growing JSON Lines file (or a named pipe) into the store: `FileFeed`, driven by the one
follower (console/ingest/follower.py), and `follow`, which runs it until stopped.

Only complete lines are ingested (a line still being written waits for its newline; one that grows past the
maximum line length is rejected at once and the rest of it dropped, so memory stays bounded). A rotated file (a new
inode at the path) is read to its end and then the new file from its start. A file truncated or written over in
place is read again from its start: noticed when its first bytes, or the bytes just before the offset reached, are
no longer what was read there (lines read twice are stored once). Pending lines are written at least every
`flush_s` seconds.

Where reading has got to lives in memory only: each run reads the file from its start (lines already stored
count as duplicates). Lines read are handed over only when the transaction that stores them commits: a batch
the store refuses (locked, gone) is kept and written again before anything more is read, so nothing read is
lost while the process lives. A file that cannot be read is opened again from its start on the next try.

A named pipe (FIFO) is read as a stream: opened without waiting for a writer, read as writers come and go, its
lines counted as they arrive; it has no offset to go back to, so what was read from it is never read again.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
import time

from console.ingest.follower import Follower, FollowReport, store_failure
from console.ingest.ingestor import DEFAULT_BATCH, Ingestor, IngestSummary, Pending, RejectSink
from console.ingest.log_files import (
    GZIP_MAGIC,
    MAX_LINE_BYTES,
    REJECT_HEAD_BYTES,
    RawLine,
    SourceError,
    display_name,
    first_line,
    too_long,
)
from console.ingest.mapping import LogMapping
from console.store import Store

READ_CHUNK = 1 << 16
HEAD_BYTES = 256  # the file's first bytes as read: compared to notice it rewritten in place
LAST_BYTES = 256  # the bytes read just before the offset: compared likewise


class _Tail:
    """One open file (or pipe) being followed: the offset reached, the partial last line, the line count, and
    what was read at the start and just before the offset (to notice the file written over)."""

    def __init__(self, path: str, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.name = display_name(path)
        try:  # never blocks, even on a pipe no writer has opened yet
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise SourceError(f"{self.name}: no such file") from None
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot be read ({exc.strerror})") from None
        mode = os.fstat(self.fd)
        if stat.S_ISDIR(mode.st_mode):
            os.close(self.fd)
            raise SourceError(f"{self.name}: is a directory, not a log file")
        self.inode = mode.st_ino
        self.stream = not stat.S_ISREG(
            mode.st_mode
        )  # a pipe (or device): read as it comes, no offset to seek
        if not self.stream and os.pread(self.fd, 2, 0) == GZIP_MAGIC:
            os.close(self.fd)
            raise SourceError(f"{self.name}: --follow cannot tail a gzip file")
        self.max_line_bytes = max_line_bytes
        self.offset = 0
        self.head = b""
        self.last = b""
        self.partial: list[bytes] = []  # the start of a line whose newline has not come yet
        self.partial_size = 0
        self.skipping = False  # inside a line over the limit, already rejected: dropped up to its newline
        self.line_number = 0

    def rewritten(self) -> bool:
        """True when what was read no longer sits where it was: the file truncated or written over."""
        if self.stream or not self.offset:
            return False
        if os.pread(self.fd, len(self.head), 0) != self.head:
            return True
        return os.pread(self.fd, len(self.last), self.offset - len(self.last)) != self.last

    def restart(self) -> None:
        self.offset = 0
        self.head = self.last = b""
        self.partial, self.partial_size, self.skipping = [], 0, False
        self.line_number = 0

    def _read(self) -> bytes:
        if not self.stream:
            return os.pread(self.fd, READ_CHUNK, self.offset)
        try:
            return os.read(self.fd, READ_CHUNK)
        except BlockingIOError:  # a writer is connected, nothing written yet
            return b""

    def read_lines(self) -> list[RawLine]:
        data = self._read()
        if not data:
            return []
        if self.rewritten():  # checked after the read: what was read may already be the new content
            self.restart()
            data = self._read()
            if not data:
                return []
        if self.offset == 0 and data[:2] == GZIP_MAGIC:
            raise SourceError(f"{self.name}: --follow cannot tail a gzip file")
        if len(self.head) < HEAD_BYTES:
            self.head = (self.head + data)[:HEAD_BYTES]
        self.last = data[-LAST_BYTES:] if len(data) >= LAST_BYTES else (self.last + data)[-LAST_BYTES:]
        self.offset += len(data)
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
        os.close(self.fd)


class FileFeed:
    """A JSON Lines file or named pipe as the follower's feed (mapped through `mapping` if given)."""

    def __init__(
        self,
        store: Store,
        path: str,
        *,
        rejects: RejectSink | None = None,
        flush_s: float = 1.0,
        batch_size: int = DEFAULT_BATCH,
        max_line_bytes: int = MAX_LINE_BYTES,
        mapping: LogMapping | None = None,
    ) -> None:
        self.path = path
        self.label = display_name(path)
        self.name = display_name(os.path.basename(path.rstrip("/")) or path)
        # The feed writes its batches itself (when due, and again after a failure): the ingestor never does.
        self.ingestor = Ingestor(store, rejects or RejectSink(), batch_size=sys.maxsize, mapping=mapping)
        self.summary = self.ingestor.summary
        self.summary.sources.append(self.label)
        self.flush_s = flush_s
        self.batch_size = batch_size
        self.max_line_bytes = max_line_bytes
        self.tail: _Tail | None = None
        self.unwritten: Pending | None = None  # a batch the store refused: written again before reading on
        self.started = self.last_write = time.monotonic()
        self.written_at = time.time()

    def open(self) -> None:
        """Open the file now if it is not open (SourceError says why it cannot be followed)."""
        if self.tail is None:
            self.tail = _Tail(self.path, self.max_line_bytes)

    def step(self, stop: threading.Event) -> bool:
        if self.unwritten is not None:
            self._write()
        try:
            self.open()
            assert self.tail is not None
            records = self.tail.read_lines()
            if not records:
                self.tail = _reopen_if_moved(self.tail, self.path, self.max_line_bytes)
        except OSError as exc:
            self._drop_tail()  # opened again from its start on the next try: stored lines count as duplicates
            raise SourceError(f"{self.label}: cannot be read ({exc.strerror or exc})") from None
        except SourceError:
            self._drop_tail()
            raise
        except Exception as exc:
            self._drop_tail()
            raise SourceError(f"{self.label}: {type(exc).__name__}: {exc}") from None
        name = self.tail.name
        for record in records:
            self.ingestor.add(name, record)
        pending = self.ingestor.pending
        if len(pending) and (
            len(pending) >= self.batch_size
            or time.monotonic() - self.last_write >= self.flush_s
            or stop.is_set()
        ):
            self.unwritten, self.ingestor.pending = pending, Pending()
            self._write()
        return bool(records)

    def _write(self) -> None:
        batch = self.unwritten
        assert batch is not None
        self.ingestor.store_prepared(batch.prepare(), batch.attempts, batch.origins)
        self.unwritten = None
        self.last_write = time.monotonic()
        self.written_at = time.time()
        self.summary.seconds = self.last_write - self.started

    def finish(self) -> None:
        done = threading.Event()
        done.set()
        self.step(done)
        self.summary.seconds = time.monotonic() - self.started

    def lag_s(self) -> float:
        """Seconds since the last write of what the file held then: 0 when nothing newer sits in it."""
        try:
            modified = os.stat(self.path).st_mtime
        except OSError:
            return 0.0
        if modified <= self.written_at and self.unwritten is None:
            return 0.0
        return max(0.0, time.time() - self.written_at)

    def reason(self, exc: BaseException) -> str:
        return str(exc) if isinstance(exc, SourceError) else f"{self.label}: {store_failure(exc)}"

    def _drop_tail(self) -> None:
        if self.tail is not None:
            self.tail.close()
            self.tail = None

    def close(self) -> None:
        self._drop_tail()


def follow(
    store: Store,
    path: str,
    stop: threading.Event,
    *,
    rejects: RejectSink | None = None,
    poll_s: float = 0.2,
    flush_s: float = 1.0,
    report: FollowReport | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    mapping: LogMapping | None = None,
) -> IngestSummary:
    """Tail `path` into the store until `stop` is set (SourceError at once when it cannot be opened); returns
    the totals. `mapping`: read a mapped log."""
    feed = FileFeed(
        store, path, rejects=rejects, flush_s=flush_s, max_line_bytes=max_line_bytes, mapping=mapping
    )
    feed.open()
    Follower(feed, poll_s, retry_s=max(poll_s, 1.0), report=report).run(stop)
    return feed.summary


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
    if tail.rewritten():  # truncated, or written over
        tail.restart()
    return tail
