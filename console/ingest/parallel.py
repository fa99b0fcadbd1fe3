"""Bulk ingest in two processes: a parsing process reads, validates and prepares batches (msgspec, rollup
sums, delivery states) while this process writes them, so parsing and SQLite's inserts use both cores.

The parser sends each batch through a bounded queue (memory stays bounded) and ends when this process dies,
whatever it is doing at the time (see `_end_with_parent`). While the writer is behind, the parser also stages
a batch's attempts for a SQLite store (see `STAGING`). Results and rejects are the same as the one-process path.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from array import array
from collections.abc import Sequence
from itertools import accumulate
from typing import Any, NamedTuple, overload

from console.domain.records import A_OUTCOME, A_TRIGGER
from console.ingest.ingestor import (
    Ingestor,
    IngestSummary,
    ProgressFn,
    Reject,
    parse_record,
    read_sources,
    young_collected,
)
from console.ingest.log_files import MAX_LINE_BYTES
from console.store.staged import StagedRows
from console.store.writer import PreparedBatch, prepare_batch

QUEUE_DEPTH = 3
# When a batch's attempts go to a SQLite store as `StagedRows`: "auto" when the writer is behind (a batch sent
# before still waits for it), "always" or "never". Staging moves the rows' binding from the writer to the
# parsing process; "auto" lets the slower of the two shed work, so both cores stay busy.
STAGING = "auto"
PARENT_CHECK_S = 0.5
_PR_SET_PDEATHSIG = 1


def _end_with_parent(parent: int) -> None:
    """Make this (parsing) process end when `parent` does, whatever it is doing: on Linux the kernel sends
    SIGKILL (prctl PR_SET_PDEATHSIG); everywhere a daemon thread also checks the parent twice a second."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class Opened(NamedTuple):
    """A source opened for reading."""

    name: str


class Failed(NamedTuple):
    """A source that could not be opened, or stopped mid-way (what it sent before still counts)."""

    message: str


class PackedOrigins(Sequence[tuple[str, int, bytes]]):
    """Where each attempt of a batch came from (source, line number, bytes), packed for the trip to the
    writer: the lines' bytes as one buffer and the numbers and ends as arrays pickle as a few copies, where a
    tuple per line was a tenth of a batch's pickling. The writer reads them only for a line the store
    rejects."""

    def __init__(self, source: str, numbers: Sequence[int], raws: Sequence[bytes]) -> None:
        self.source = source
        self.numbers = array("q", numbers)
        self.ends = array("q", accumulate(map(len, raws)))
        self.raw = b"".join(raws)

    def may_hold_nul(self) -> bool:
        """False when no line holds a NUL, raw or JSON-escaped, so no field decoded from them can."""
        return b"\\u0000" in self.raw or b"\x00" in self.raw

    def __len__(self) -> int:
        return len(self.numbers)

    @overload
    def __getitem__(self, i: int) -> tuple[str, int, bytes]: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[tuple[str, int, bytes]]: ...

    def __getitem__(self, i: int | slice) -> tuple[str, int, bytes] | Sequence[tuple[str, int, bytes]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        start = self.ends[i - 1] if i > 0 else 0
        return self.source, self.numbers[i], self.raw[start : self.ends[i]]


class Batch(NamedTuple):
    """Lines read since the last batch: the valid ones prepared for writing (`origins[i]` is where
    `attempts[i]` came from), the rejected ones, and how many lines and bytes were read. Attempts and events
    travel as plain tuples of their records' fields (see `_Collected.batch`)."""

    prepared: PreparedBatch
    attempts: Sequence[tuple[Any, ...]]
    origins: PackedOrigins
    rejects: list[Reject]
    lines: int
    size: int


class Done(NamedTuple):
    """Every source was read."""


class Crashed(NamedTuple):
    """The parsing process failed; `trace` is its traceback."""

    trace: str


Message = Opened | Failed | Batch | Done | Crashed


class _Collected:
    """What the parsing process has read since its last `Batch`. Records are kept as plain tuples of their
    fields (the writer reads them by position): a NamedTuple costs twice as much to pickle and unpickle, and
    this is per line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.attempts: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.numbers: list[int] = []
        self.raws: list[bytes] = []
        self.rejects: list[Reject] = []

    def lists(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[int], list[bytes]]:
        """The lists a line goes into (attempts, events, line numbers, bytes), for the parsing loop to hold."""
        return self.attempts, self.events, self.numbers, self.raws

    def batch(self, stage: bool) -> Batch:
        """The message for what was read; with `stage`, its attempts as `StagedRows`."""
        origins = PackedOrigins(self.source, self.numbers, self.raws)
        prepared = prepare_batch(self.attempts, self.events, origins.may_hold_nul())  # type: ignore[arg-type]
        size = len(origins.raw) + sum(len(r.raw) for r in self.rejects)
        lines = len(self.attempts) + len(self.rejects)
        # With no line met twice the prepared attempts are these, in order (a NUL replaced at most, which
        # leaves the natural key alone): they travel once.
        unique = len(prepared.attempts) == len(self.attempts)
        staged = StagedRows.build(prepared.attempts) if stage else None
        if staged is not None:
            prepared.attempts = staged  # type: ignore[assignment]  # plain tuples, as above
        attempts = prepared.attempts if unique else self.attempts
        return Batch(prepared, attempts, origins, self.rejects, lines, size)


def _plain(a: Any) -> tuple[Any, ...]:
    """An attempt as a plain tuple, its outcome and trigger as plain text: the writer binds an enum member
    through the driver's adapter lookup, a quarter of an attempt row's insert."""
    values = list(a)
    values[A_OUTCOME] = values[A_OUTCOME]._value_
    values[A_TRIGGER] = values[A_TRIGGER]._value_
    return tuple(values)


def _writer_behind(out: Any) -> bool:
    """True when a batch sent before is still waiting in `out` for the writer."""
    try:
        return bool(out.qsize() > 0)
    except NotImplementedError:  # macOS has no sem_getvalue
        return not out.empty()


def _parse_sources(
    paths: Sequence[str], fmt: str, batch_size: int, out: Any, parent: int, max_line_bytes: int, staging: str
) -> None:
    """The parsing process: sends `Opened`, `Batch` and `Failed` messages, and finally `Done` or `Crashed`.
    `staging` says when a batch's attempts travel as `StagedRows` (see `STAGING`)."""

    def stage() -> bool:
        return staging == "always" or (staging == "auto" and _writer_behind(out))

    _end_with_parent(parent)
    gc.disable()  # forked from a paused parent; see `collector_paused`

    def send(message: Message) -> None:
        while True:
            try:
                out.put(message, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != parent:
                    os._exit(0)  # the writer is gone: stop quietly

    try:
        for reading in read_sources(paths, fmt, max_line_bytes):
            if not reading.opened:
                send(Failed(reading.failure or reading.name))
                continue
            send(Opened(reading.name))
            collected = _Collected(reading.name)
            attempts, events, numbers, raws = collected.lists()
            for record in reading:
                parsed = parse_record(record)
                if isinstance(parsed, str):
                    collected.rejects.append(Reject(reading.name, record.number, parsed, record.raw))
                    continue
                attempt, event = parsed
                attempts.append(_plain(attempt))
                if event is not None:
                    events.append(tuple(event))
                numbers.append(record.number)
                raws.append(record.raw)
                if len(attempts) >= batch_size:
                    send(collected.batch(stage()))
                    collected = _Collected(reading.name)
                    attempts, events, numbers, raws = collected.lists()
                    young_collected()
            if attempts or collected.rejects:
                send(collected.batch(stage()))
            if reading.failure is not None:
                send(Failed(reading.failure))
        send(Done())
    except BaseException:
        send(Crashed(traceback.format_exc()))


def ingest_in_parallel(
    ingestor: Ingestor,
    paths: Sequence[str],
    fmt: str,
    progress: ProgressFn | None,
    total_bytes: int | None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> IngestSummary:
    """Run the parsing process and write what it sends; returns the same summary as `ingest_sources`."""
    context = multiprocessing.get_context("fork")
    channel = context.Queue(maxsize=QUEUE_DEPTH)
    parser = context.Process(
        target=_parse_sources,
        args=(
            list(paths),
            fmt,
            ingestor.batch_size,
            channel,
            os.getpid(),
            max_line_bytes,
            STAGING if ingestor.store.dialect.takes_staged_rows else "never",
        ),
        name="hookconsole-ingest-parser",
        daemon=True,
    )
    summary = ingestor.summary
    started = time.perf_counter()
    parser.start()
    try:
        while True:
            message = _receive(channel, parser)
            if isinstance(message, Done):
                break
            if isinstance(message, Crashed):
                raise RuntimeError(f"the ingest parsing process failed:\n{message.trace}")
            if isinstance(message, Opened):
                summary.sources.append(message.name)
            elif isinstance(message, Failed):
                summary.failed_sources.append(message.message)
            else:
                ingestor.counted(message.lines, message.size, message.rejects)
                ingestor.store_prepared(message.prepared, message.attempts, message.origins)
                if progress is not None:
                    summary.seconds = time.perf_counter() - started
                    progress(summary, total_bytes)
    finally:
        if parser.is_alive():
            parser.terminate()
        parser.join(timeout=10)
        channel.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _receive(channel: Any, parser: Any) -> Message:
    while True:
        try:
            message: Message = channel.get(timeout=1.0)
            return message
        except queue.Empty:
            if not parser.is_alive():
                raise RuntimeError(f"the ingest parsing process died (exit code {parser.exitcode})") from None
