"""Ingest: read sources, validate every line, store valid ones in batches, send bad ones to the rejects sink."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from console.ingest.ingestor import (
    DEFAULT_BATCH,
    Ingestor,
    IngestSummary,
    ProgressFn,
    Reject,
    RejectSink,
    collector_paused,
    parse_record,
    read_sources,
    slow_parse,
)
from console.ingest.log_files import MAX_LINE_BYTES, source_size
from console.ingest.mapping import LogMapping
from console.ingest.parallel import ingest_in_parallel
from console.settings import INGEST_PROCESSES
from console.store import Store
from console.store.upkeep import analyze_if_grown, known_attempts

__all__ = [
    "DEFAULT_BATCH",
    "IngestSummary",
    "Ingestor",
    "ProgressFn",
    "Reject",
    "RejectSink",
    "ingest_sources",
    "parse_record",
    "slow_parse",
    "use_parallel",
]


def ingest_sources(
    store: Store,
    paths: Sequence[str],
    *,
    fmt: str = "auto",
    rejects: RejectSink | None = None,
    progress: ProgressFn | None = None,
    batch_size: int = DEFAULT_BATCH,
    max_line_bytes: int = MAX_LINE_BYTES,
    mapping: LogMapping | None = None,
) -> IngestSummary:
    """Ingest every path in order. A source that cannot be read is reported and the others still go in.

    Large files are parsed in a second process while this one writes (see `parallel`); a mapped log
    (`mapping`, see `mapping`) is read in this process. A line longer than `max_line_bytes` is rejected and
    skipped without being held in memory. An ingest that grows the store by more than a tenth refreshes the
    planner's statistics (`upkeep`).
    """
    known = known_attempts(store)
    with collector_paused():
        summary = _ingest(store, paths, fmt, rejects, progress, batch_size, max_line_bytes, mapping)
    analyze_if_grown(store, known, summary.accepted)
    return summary


def _ingest(
    store: Store,
    paths: Sequence[str],
    fmt: str,
    rejects: RejectSink | None,
    progress: ProgressFn | None,
    batch_size: int,
    max_line_bytes: int,
    mapping: LogMapping | None,
) -> IngestSummary:
    ingestor = Ingestor(store, rejects or RejectSink(), batch_size, mapping)
    sizes = [source_size(p) for p in paths]
    total_bytes = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
    if mapping is None and use_parallel(paths, sizes):
        return ingest_in_parallel(ingestor, paths, fmt, progress, total_bytes, max_line_bytes)
    started = time.perf_counter()
    last_report = 0.0
    summary = ingestor.summary
    csv_columns = mapping.csv_columns() if mapping else None
    for reading in read_sources(paths, fmt, max_line_bytes, csv_columns):
        if not reading.opened:
            summary.failed_sources.append(reading.failure or reading.name)
            continue
        summary.sources.append(reading.name)
        for record in reading:
            ingestor.add(reading.name, record)
            if progress is not None and summary.lines % 2000 == 0:
                now = time.perf_counter()
                if now - last_report > 0.25:
                    last_report = now
                    summary.seconds = now - started
                    progress(summary, total_bytes)
        if reading.failure is not None:
            summary.failed_sources.append(reading.failure)
        ingestor.flush()
    ingestor.flush()
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(summary, total_bytes)
    return summary


PARALLEL_MIN_BYTES = 8 << 20


def use_parallel(paths: Sequence[str], sizes: Sequence[int | None] | None = None) -> bool:
    """Parse in a second process when there is a second core and enough plain-file input to repay it."""
    if (os.cpu_count() or 1) < 2 or os.environ.get(INGEST_PROCESSES) == "1" or "-" in paths:
        return False
    known = sizes if sizes is not None else [source_size(p) for p in paths]
    return sum(s or 0 for s in known) >= PARALLEL_MIN_BYTES
