"""Bulk ingest in two processes: a parsing process reads, validates and prepares batches (msgspec, rollup
sums, delivery states) while this process writes them, so parsing and SQLite's inserts use both cores.

The parser sends each batch through a bounded queue (memory stays bounded) and exits by itself when this
process dies (it watches its parent). Results and rejects are the same as the one-process path.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
import traceback
from collections.abc import Sequence
from typing import Any

from console.ingest.service import Ingestor, IngestSummary, ProgressFn, Reject, parse_record
from console.ingest.sources import SourceError, display_name, read_source
from console.store.writer import prepare_batch

QUEUE_DEPTH = 3


def _parse_sources(paths: Sequence[str], fmt: str, batch_size: int, out: Any, parent: int) -> None:
    """The parsing process: send ("batch", ...), ("failed", message) and finally ("done",) or ("error", text)."""

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
                stream, records = read_source(path, fmt)
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
    ingestor: Ingestor, paths: Sequence[str], fmt: str, progress: ProgressFn | None, total_bytes: int | None
) -> IngestSummary:
    """Run the parsing process and write what it sends; returns the same summary as `ingest_sources`."""
    context = multiprocessing.get_context("fork")
    channel = context.Queue(maxsize=QUEUE_DEPTH)
    parser = context.Process(
        target=_parse_sources,
        args=(list(paths), fmt, ingestor.batch_size, channel, os.getpid()),
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
