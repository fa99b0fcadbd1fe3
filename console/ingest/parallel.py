"""Bulk ingest in two processes: a parsing process reads, validates and prepares batches (msgspec, rollup
sums, delivery states) while this process writes them, so parsing and SQLite's inserts use both cores.

The parser sends each batch through a bounded queue (memory stays bounded) and ends when this process dies,
whatever it is doing at the time (see `_end_with_parent`). Results and rejects are the same as the one-process path.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Sequence
from typing import Any

from console.ingest.service import Ingestor, IngestSummary, ProgressFn, Reject, parse_record
from console.ingest.sources import MAX_LINE_BYTES, SourceError, display_name, read_source
from console.store.writer import prepare_batch

QUEUE_DEPTH = 3
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


def _parse_sources(
    paths: Sequence[str], fmt: str, batch_size: int, out: Any, parent: int, max_line_bytes: int
) -> None:
    """The parsing process: send ("batch", ...), ("failed", message) and finally ("done",) or ("error", text)."""
    _end_with_parent(parent)

    def send(message: tuple[Any, ...]) -> None:
        while True:
            try:
                out.put(message, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != parent:
                    os._exit(0)  # the writer is gone: stop quietly

    try:
        for path in paths:
            name = display_name(path)
            try:
                stream, records = read_source(path, fmt, max_line_bytes)
            except SourceError as exc:
                send(("failed", name, str(exc)))
                continue
            attempts: list[Any] = []
            events: list[Any] = []
            origins: list[tuple[str, int, bytes]] = []
            rejects: list[Reject] = []
            lines = size = 0
            try:
                for record in records:
                    lines += 1
                    size += len(record.raw)
                    parsed = parse_record(record)
                    if isinstance(parsed, str):
                        rejects.append(Reject(name, record.number, parsed, record.raw))
                        continue
                    attempts.append(parsed[0])
                    if parsed[1] is not None:
                        events.append(parsed[1])
                    origins.append((name, record.number, record.raw))
                    if len(attempts) >= batch_size:
                        send(
                            (
                                "batch",
                                prepare_batch(attempts, events),
                                attempts,
                                origins,
                                rejects,
                                lines,
                                size,
                            )
                        )
                        attempts, events, origins, rejects, lines, size = [], [], [], [], 0, 0
            except (OSError, EOFError, SourceError) as exc:
                send(("batch", prepare_batch(attempts, events), attempts, origins, rejects, lines, size))
                attempts, events, origins, rejects, lines, size = [], [], [], [], 0, 0
                send(("failed", name, f"{name}: stopped reading: {exc}"))
            finally:
                stream.close()
            if attempts or rejects or lines:
                send(("batch", prepare_batch(attempts, events), attempts, origins, rejects, lines, size))
        send(("done",))
    except BaseException:
        send(("error", traceback.format_exc()))


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
        args=(list(paths), fmt, ingestor.batch_size, channel, os.getpid(), max_line_bytes),
        name="hookconsole-ingest-parser",
        daemon=True,
    )
    summary = ingestor.summary
    summary.sources.extend(display_name(p) for p in paths)
    started = time.perf_counter()
    parser.start()
    try:
        while True:
            message = _receive(channel, parser)
            kind = message[0]
            if kind == "done":
                break
            if kind == "error":
                raise RuntimeError(f"the ingest parsing process failed:\n{message[1]}")
            if kind == "failed":
                if message[1] in summary.sources:
                    summary.sources.remove(message[1])
                summary.failed_sources.append(message[2])
                continue
            _, batch, attempts, origins, rejects, lines, size = message
            summary.lines += lines
            summary.bytes_read += size
            for reject in rejects:
                ingestor._reject(reject.source, reject.line, reject.reason, reject.raw)
            ingestor.store_prepared(batch, attempts, origins)
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


def _receive(channel: Any, parser: Any) -> tuple[Any, ...]:
    while True:
        try:
            return channel.get(timeout=1.0)
        except queue.Empty:
            if not parser.is_alive():
                raise RuntimeError(f"the ingest parsing process died (exit code {parser.exitcode})") from None
