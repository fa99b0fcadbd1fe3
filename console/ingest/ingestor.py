"""What every ingest path shares: the per-line parse, the batching `Ingestor`, the run's summary and the
rejects sink, and `read_sources`, the one loop over sources (a source that cannot be opened or that breaks
mid-way is reported and the others still go in)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import orjson

from console.domain.records import A_ATTEMPT, A_ENDPOINT_ID, A_EVENT_ID, A_TRIGGER, AttemptRecord, EventRecord
from console.ingest.fastpath import fast_parse
from console.ingest.lines import LineError, object_payload, parse_line
from console.ingest.log_files import (
    MAX_LINE_BYTES,
    UNDECODED,
    RawLine,
    SourceError,
    display_name,
    json_error,
    read_source,
)
from console.ingest.mapping import SKIP, LogMapping, parse_mapped
from console.store import Store
from console.store.writer import PreparedBatch, prepare_batch, write_prepared_batch

# Lines per transaction: fewer commits rewrite fewer index pages (see docs/log-format.md).
DEFAULT_BATCH = 20_000

Parsed = tuple[AttemptRecord, EventRecord | None]


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


@contextmanager
def collector_paused() -> Iterator[None]:
    """Bulk ingest makes millions of short-lived objects without cycles, which set off Python's cycle
    collector over and over (about a seventh of ingest's time). Pause it for the run; `young_collected`
    every few batches still reclaims any cycle the batches leave."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


YOUNG_COLLECT_EVERY = 8
_batches_since_collect = 0


def young_collected() -> None:
    """Collect the young generations once every `YOUNG_COLLECT_EVERY` batches. A collection walks every
    object still alive since the last one (a whole batch: a fifth of the parsing process's time when done
    after each batch), so it runs every few batches; what cycles those leave is reclaimed then."""
    global _batches_since_collect
    if gc.isenabled():
        return
    _batches_since_collect += 1
    if _batches_since_collect >= YOUNG_COLLECT_EVERY:
        _batches_since_collect = 0
        gc.collect(1)


def parse_record(record: RawLine) -> Parsed | str:
    """The records of one source record, or the reason it is rejected. Never raises: whatever goes wrong
    with one line rejects that line."""
    _, raw, value, error = record
    if error is not None:
        return error
    try:
        if value is not UNDECODED:
            return parse_line(value)
        try:
            parsed = fast_parse(raw)
        except Exception:
            parsed = None  # whatever broke there, the slow path decides and names the fault
        if parsed is not None:
            return parsed
        return slow_parse(raw)
    except LineError as exc:
        return str(exc)
    except Exception as exc:  # one line must never stop an ingest
        return f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})"


def slow_parse(raw: bytes) -> Parsed | str:
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
class Pending:
    """Lines read and parsed, waiting for the next batch write: the valid ones with where each came from
    (`origins[i]` is the source, line number and bytes of `attempts[i]`), and the lines counted."""

    attempts: list[AttemptRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    origins: list[tuple[str, int, bytes]] = field(default_factory=list)

    def add(self, source: str, record: RawLine, parsed: Parsed) -> None:
        attempt, event = parsed
        self.attempts.append(attempt)
        if event is not None:
            self.events.append(event)
        self.origins.append((source, record.number, record.raw))

    def prepare(self) -> PreparedBatch:
        return prepare_batch(self.attempts, self.events)

    def __len__(self) -> int:
        return len(self.attempts)


class Ingestor:
    """Validates records and writes them in batches; used by file ingest, `--follow` and the API sources."""

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
        self.pending = Pending()

    def add(self, source: str, record: RawLine) -> None:
        """Validate one record; a valid one waits for the next flush, a bad one goes to the rejects sink."""
        self.summary.lines += 1
        self.summary.bytes_read += len(record.raw)
        parsed = parse_record(record) if self.mapping is None else parse_mapped(self.mapping, record)
        if parsed is SKIP:
            self.summary.skipped += 1
            return
        if isinstance(parsed, str):
            self._reject(Reject(source, record.number, parsed, record.raw))
            return
        self.pending.add(source, record, parsed)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write what is pending in one transaction and route the store's own rejections."""
        pending, self.pending = self.pending, Pending()
        if pending:
            self.store_prepared(pending.prepare(), pending.attempts, pending.origins)

    def counted(self, lines: int, size: int, rejects: Sequence[Reject]) -> None:
        """Count lines read and rejected elsewhere (the parsing process of a parallel ingest)."""
        self.summary.lines += lines
        self.summary.bytes_read += size
        for reject in rejects:
            self._reject(reject)

    def store_prepared(
        self,
        batch: PreparedBatch,
        attempts: Sequence[AttemptRecord] | Sequence[tuple[Any, ...]],
        origins: Sequence[tuple[str, int, bytes]],
    ) -> None:
        """Write a prepared batch; `origins[i]` says where `attempts[i]` came from, for the store's rejections."""
        result = write_prepared_batch(self.store, batch)
        self.summary.accepted += result.inserted
        self.summary.duplicates += result.duplicates
        if result.rejected:
            for a, (source, number, raw) in zip(attempts, origins, strict=True):
                reason = result.rejected.pop(
                    (a[A_EVENT_ID], a[A_ENDPOINT_ID], a[A_ATTEMPT], a[A_TRIGGER]), None
                )
                if reason is not None:
                    self._reject(Reject(source, number, reason, raw))
        self.rejects.flush()
        young_collected()

    def _reject(self, reject: Reject) -> None:
        if self.mapping is not None:
            # the store's reasons name fields too: add their paths
            reject = Reject(reject.source, reject.line, self.mapping.relabel(reject.reason), reject.raw)
        self.summary.rejected += 1
        self.rejects(reject)


class SourceReading:
    """One source being read: iterate it for its records. `failure` says why it could not be opened (then it
    yields nothing) or why it stopped mid-way (a corrupt gzip stream, say; what was read before counts)."""

    def __init__(
        self, path: str, records: Iterator[RawLine] | None, stream: Any, failure: str | None
    ) -> None:
        self.name = display_name(path)
        self.path = path
        self.opened = records is not None
        self.failure = failure
        self._records = records
        self._stream = stream

    def __iter__(self) -> Iterator[RawLine]:
        if self._records is None:
            return
        try:
            yield from self._records
        except SourceError as exc:
            self.failure = str(exc)
        except (OSError, EOFError) as exc:
            self.failure = f"{self.name}: stopped reading: {exc}"
        finally:
            if self._stream is not None and self.path != "-":
                self._stream.close()


def read_sources(
    paths: Sequence[str],
    fmt: str = "auto",
    max_line_bytes: int = MAX_LINE_BYTES,
    csv_columns: Any = None,
) -> Iterator[SourceReading]:
    """Each path in order, opened for reading (see `SourceReading`)."""
    for path in paths:
        try:
            stream, records = read_source(path, fmt, max_line_bytes, csv_columns)
        except SourceError as exc:
            yield SourceReading(path, None, None, str(exc))
            continue
        yield SourceReading(path, records, stream, None)
