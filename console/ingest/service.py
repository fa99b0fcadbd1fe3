"""Ingest: read sources, validate every line, store valid ones in batches, send bad ones to the rejects sink."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import orjson

from console.domain.records import AttemptRecord, EventRecord
from console.ingest.fastpath import fast_parse
from console.ingest.lines import LineError, object_payload, parse_line
from console.ingest.mapping import SKIP, LogMapping, parse_mapped
from console.ingest.sources import (
    MAX_LINE_BYTES,
    UNDECODED,
    RawLine,
    SourceError,
    display_name,
    json_error,
    read_source,
    source_size,
)
from console.store import Store
from console.store.writer import PreparedBatch, prepare_batch, write_prepared_batch

DEFAULT_BATCH = 10_000


@dataclass
class IngestSummary:
    """Totals of one ingest run; `accepted + rejected + duplicates + skipped` is every non-blank line read
    (`skipped`: lines of a mapped log that its `[match]` says are not delivery attempts)."""

    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    skipped: int = 0
    lines: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    sources: list[str] = field(default_factory=list)
    failed_sources: list[str] = field(default_factory=list)

    @property
    def rate_per_s(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rate_per_s"] = round(self.rate_per_s, 1)
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass(frozen=True)
class Reject:
    """A line that was not stored, with where it was and why."""

    source: str
    line: int
    reason: str
    raw: bytes

    @property
    def message(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


class RejectSink:
    """Where rejected lines go: a JSON Lines file (`source`, `line`, `reason`, `raw`) and/or a callback."""

    def __init__(
        self, stream: IO[bytes] | None = None, on_reject: Callable[[Reject], None] | None = None
    ) -> None:
        self.stream = stream
        self.on_reject = on_reject

    def __call__(self, reject: Reject) -> None:
        if self.stream is not None:
            entry = {
                "source": reject.source,
                "line": reject.line,
                "reason": reject.reason,
                "raw": reject.raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n"),
            }
            self.stream.write(orjson.dumps(entry) + b"\n")
        if self.on_reject is not None:
            self.on_reject(reject)

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()


ProgressFn = Callable[[IngestSummary, int | None], None]


def parse_record(record: RawLine) -> tuple[AttemptRecord, EventRecord | None] | str:
    """The records of one source record, or the reason it is rejected. Never raises: whatever goes wrong
    with one line rejects that line."""
    if record.error is not None:
        return record.error
    try:
        value = record.value
        if value is not UNDECODED:
            return parse_line(value)
        try:
            parsed = fast_parse(record.raw)
        except Exception:
            parsed = None  # whatever broke there, the slow path decides and names the fault
        if parsed is not None:
            return parsed
        return slow_parse(record.raw)
    except LineError as exc:
        return str(exc)
    except Exception as exc:  # one line must never stop an ingest
        return f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})"


def slow_parse(raw: bytes) -> tuple[AttemptRecord, EventRecord | None] | str:
    """A JSON line the fast path did not take: accepted as it would have, or rejected naming the fault."""
    if not raw.isascii():
        try:
            raw.decode()
        except UnicodeDecodeError as exc:
            return f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return json_error(exc, raw)
    payload = value.get("payload") if isinstance(value, dict) else None
    try:
        return parse_line(value, object_payload(raw) if isinstance(payload, dict) else None)
    except LineError as exc:
        return str(exc)


@dataclass
class _Pending:
    """Valid lines waiting for the next batch write."""

    attempts: list[AttemptRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    origins: list[tuple[str, int, bytes]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.attempts)


class Ingestor:
    """Validates records and writes them in batches; used by file ingest and by `--follow`."""

    def __init__(
        self,
        store: Store,
        rejects: RejectSink,
        batch_size: int = DEFAULT_BATCH,
        mapping: LogMapping | None = None,
    ) -> None:
        self.store = store
        self.rejects = rejects
        self.batch_size = batch_size
        self.mapping = mapping
        self.summary = IngestSummary()
        self.pending = _Pending()

    def add(self, source: str, record: RawLine) -> None:
        """Validate one record; a valid one waits for the next flush, a bad one goes to the rejects sink."""
        self.summary.lines += 1
        self.summary.bytes_read += len(record.raw)
        parsed = parse_record(record) if self.mapping is None else parse_mapped(self.mapping, record)
        if parsed is SKIP:
            self.summary.skipped += 1
            return
        if isinstance(parsed, str):
            self._reject(source, record.number, parsed, record.raw)
            return
        attempt, event = parsed
        self.pending.attempts.append(attempt)
        if event is not None:
            self.pending.events.append(event)
        self.pending.origins.append((source, record.number, record.raw))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write what is pending in one transaction and route the store's own rejections."""
        pending, self.pending = self.pending, _Pending()
        if pending:
            self.store_prepared(
                prepare_batch(pending.attempts, pending.events), pending.attempts, pending.origins
            )

    def store_prepared(
        self,
        batch: PreparedBatch,
        attempts: Sequence[AttemptRecord],
        origins: Sequence[tuple[str, int, bytes]],
    ) -> None:
        """Write a prepared batch; `origins[i]` says where `attempts[i]` came from, for the store's rejections."""
        result = write_prepared_batch(self.store, batch)
        self.summary.accepted += result.inserted
        self.summary.duplicates += result.duplicates
        if result.rejected:
            for attempt, (source, number, raw) in zip(attempts, origins, strict=True):
                reason = result.rejected.pop(attempt.key, None)
                if reason is not None:
                    self._reject(source, number, reason, raw)
        self.rejects.flush()

    def _reject(self, source: str, number: int, reason: str, raw: bytes) -> None:
        if self.mapping is not None:
            reason = self.mapping.relabel(reason)  # the store's reasons name fields too: add their paths
        self.summary.rejected += 1
        self.rejects(Reject(source, number, reason, raw))


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
    skipped without being held in memory.
    """
    ingestor = Ingestor(store, rejects or RejectSink(), batch_size, mapping)
    sizes = [source_size(p) for p in paths]
    total_bytes = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
    if mapping is None and use_parallel(paths, sizes):
        from console.ingest.parallel import ingest_in_parallel

        return ingest_in_parallel(ingestor, paths, fmt, progress, total_bytes, max_line_bytes)
    started = time.perf_counter()
    last_report = 0.0
    for path in paths:
        name = display_name(path)
        try:
            stream, records = read_source(
                path, fmt, max_line_bytes, mapping.csv_columns() if mapping else None
            )
        except SourceError as exc:
            ingestor.summary.failed_sources.append(str(exc))
            continue
        ingestor.summary.sources.append(name)
        try:
            for record in _guard(records, name, ingestor):
                ingestor.add(name, record)
                if progress is not None and ingestor.summary.lines % 2000 == 0:
                    now = time.perf_counter()
                    if now - last_report > 0.25:
                        last_report = now
                        ingestor.summary.seconds = now - started
                        progress(ingestor.summary, total_bytes)
        finally:
            if stream is not None and path != "-":
                stream.close()
        ingestor.flush()
    ingestor.flush()
    ingestor.summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(ingestor.summary, total_bytes)
    return ingestor.summary


def _guard(records: Iterator[RawLine], name: str, ingestor: Ingestor) -> Iterable[RawLine]:
    """Turn a source that breaks mid-way (a corrupt gzip stream, say) into a failed source, keeping what was read."""
    try:
        yield from records
    except SourceError as exc:
        ingestor.summary.failed_sources.append(str(exc))
    except (OSError, EOFError) as exc:
        ingestor.summary.failed_sources.append(f"{name}: stopped reading: {exc}")


PARALLEL_MIN_BYTES = 8 << 20


def use_parallel(paths: Sequence[str], sizes: Sequence[int | None] | None = None) -> bool:
    """Parse in a second process when there is a second core and enough plain-file input to repay it."""
    if (os.cpu_count() or 1) < 2 or os.environ.get("HOOKCONSOLE_INGEST_PROCESSES") == "1" or "-" in paths:
        return False
    known = sizes if sizes is not None else [source_size(p) for p in paths]
    return sum(s or 0 for s in known) >= PARALLEL_MIN_BYTES
