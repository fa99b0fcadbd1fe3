"""Reading delivery logs: plain or gzip files, or stdin; JSON Lines or CSV; line numbers kept for errors."""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

import orjson

from console.domain.records import REQUIRED_LOG_FIELDS, log_fields_of_kind
from console.domain.safetext import one_line

GZIP_MAGIC = b"\x1f\x8b"
FORMATS = ("auto", "jsonl", "csv")
# The fields every record must have (docs/log-format.md).
REQUIRED_FIELDS = REQUIRED_LOG_FIELDS
CSV_INT_FIELDS = log_fields_of_kind("int")
CSV_FLOAT_FIELDS = log_fields_of_kind("float")
CSV_JSON_FIELDS = log_fields_of_kind("json")
# The longest line read (newline not counted); a longer one is rejected and skipped in bounded memory.
MAX_LINE_BYTES = 16 << 20
SKIP_CHUNK = 1 << 20
REJECT_HEAD_BYTES = 1024  # what a rejected over-long line shows of itself


class SourceError(Exception):
    """A whole source cannot be read (missing, unreadable, unknown format)."""


# The value of a JSON Lines record not decoded yet: ingest decodes it (fast path first).
UNDECODED: Any = object()


class RawLine(NamedTuple):
    """One record of a source: its 1-based line number, its bytes as read, and its decoded value
    (UNDECODED for JSON Lines; a mapping of typed cells for CSV) or the reason it cannot be read."""

    number: int
    raw: bytes
    value: Any = UNDECODED
    error: str | None = None


def display_name(path: str) -> str:
    """A source as messages, rejects and summaries name it: on one line, valid UTF-8 (bad bytes as \\xNN)."""
    return "<stdin>" if path == "-" else one_line(path)


def open_binary(path: str) -> IO[bytes]:
    """Open a source for reading bytes, gunzipping transparently (by content, not by name)."""
    if path == "-":
        stream: IO[bytes] = sys.stdin.buffer
    else:
        try:
            stream = open(path, "rb")  # noqa: SIM115  (closed by the caller)
        except FileNotFoundError:
            raise SourceError(f"{display_name(path)}: no such file") from None
        except IsADirectoryError:
            raise SourceError(f"{display_name(path)}: is a directory, not a log file") from None
        except OSError as exc:
            raise SourceError(f"{display_name(path)}: cannot be read ({exc.strerror})") from None
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(cast(Any, stream))
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        import gzip

        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered


def detect_format(path: str, stream: IO[bytes], wanted: str) -> str:
    """`jsonl` or `csv`: as asked, else by file name, else by the first non-blank byte."""
    if wanted != "auto":
        return wanted
    name = path.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    head = stream.peek(4096)[:4096] if hasattr(stream, "peek") else b""
    first = head.removeprefix(codecs.BOM_UTF8).lstrip()[:1]
    return "jsonl" if first in (b"{", b"[", b"") else "csv"


def too_long(limit: int) -> str:
    return f"line longer than {limit:,} bytes (the maximum line length, --max-line-bytes)"


def skip_rest_of_line(stream: IO[bytes]) -> None:
    """Read on to just past the next newline (or the end), a chunk at a time."""
    while True:
        chunk = stream.readline(SKIP_CHUNK)
        if not chunk or chunk.endswith(b"\n"):
            return


def first_line(raw: bytes) -> bytes:
    """The first line of a file without the UTF-8 byte-order mark some editors and Windows tools write."""
    return raw.removeprefix(codecs.BOM_UTF8)


def iter_jsonl(stream: IO[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[RawLine]:
    """Each non-blank line, undecoded (a byte-order mark before the first dropped). A line longer than
    `max_line_bytes` (newline not counted) is rejected and skipped without being held in memory."""
    readline = stream.readline
    size = max_line_bytes + 1
    number = 0
    new = tuple.__new__  # a RawLine without its Python-level __new__: a million lines are read per run
    while raw := readline(size):
        number += 1
        if len(raw) == size and raw[-1:] != b"\n":
            skip_rest_of_line(stream)
            yield RawLine(number, raw[:REJECT_HEAD_BYTES], error=too_long(max_line_bytes))
            continue
        if number == 1:
            raw = first_line(raw)
            if not raw:
                continue
        if not raw.isspace():  # the same ASCII white space as bytes.strip()
            yield new(RawLine, (number, raw, UNDECODED, None))


def json_error(exc: orjson.JSONDecodeError, raw: bytes) -> str:
    """The reason a line is not JSON, calling a cut-off last line what it is."""
    text = str(exc)
    if not raw.endswith(b"\n") and ("EOF" in text or "unexpected end" in text.lower()):
        return f"not valid JSON (truncated line: {text})"
    return f"not valid JSON ({text})"


class _LineTooLong(Exception):
    """A physical CSV line over the limit was met (and skipped)."""


class _CsvLines:
    """The physical lines of a CSV source as text for `csv.reader`, counted: UTF-8 with a leading byte-order
    mark dropped (Excel writes one), invalid bytes kept as surrogates (`surrogateescape`) so that only the
    record holding them is rejected, and a line over the limit skipped (raising `_LineTooLong`)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.number = 0
        self.pending: list[str] = []

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        if self.pending:
            self.number += 1
            return self.pending.pop()
        raw = self.stream.readline(self.limit + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if self.number == 1:
            raw = first_line(raw)
        if len(raw) > self.limit and not raw.endswith(b"\n"):
            skip_rest_of_line(self.stream)
            raise _LineTooLong
        text = raw.decode("utf-8", "surrogateescape")
        # Old Mac line ends: each \r ends a line, as universal newlines read them.
        if "\r" in text.rstrip("\r\n"):
            parts = text.split("\r")
            pieces = [p + "\r" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
            if len(pieces) > 1 and pieces[-1] == "\n":
                pieces[-2:] = [pieces[-2] + "\n"]
            self.pending = pieces[:0:-1]
            return pieces[0]
        return text


def iter_csv(
    stream: IO[bytes],
    source: str,
    max_line_bytes: int = MAX_LINE_BYTES,
    required: Sequence[str] | None = None,
) -> Iterator[RawLine]:
    """Each CSV record after the header, as a mapping with typed cells (empty cells are null).

    The header must have the log format's required columns, or the `required` ones (a mapped log's)."""
    if csv.field_size_limit() < max_line_bytes:
        csv.field_size_limit(max_line_bytes)
    lines = _CsvLines(stream, max_line_bytes)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except (_LineTooLong, csv.Error) as exc:
        reason = too_long(max_line_bytes) if isinstance(exc, _LineTooLong) else str(exc)
        raise SourceError(f"{source}:1: the CSV header cannot be read ({reason})") from None
    if header is None:
        return
    names = [h.strip() for h in header]
    missing = [n for n in (REQUIRED_FIELDS if required is None else required) if n not in names]
    if missing:
        raise SourceError(f"{source}:1: CSV header lacks required column(s): {', '.join(missing)}")
    while True:
        start = lines.number + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except _LineTooLong:
            where = "" if lines.number == start else f" (line {lines.number} of the record starting here)"
            yield RawLine(start, b"", error=too_long(max_line_bytes) + where)
            reader = csv.reader(lines)  # a fresh reader: the record cut short is dropped whole
            continue
        except csv.Error as exc:
            yield RawLine(start, b"", error=f"not valid CSV ({exc})")
            continue
        raw, bad_cell = _csv_text(row, names)
        if bad_cell is not None:
            yield RawLine(start, raw, error=bad_cell)
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield RawLine(start, raw, error=f"has {len(row)} cells, the header has {len(names)}")
            continue
        yield _typed_csv_row(start, raw, dict(zip(names, row, strict=True)))


def _csv_text(row: list[str], names: list[str]) -> tuple[bytes, str | None]:
    """The record as CSV bytes, and the reason it is rejected when a cell held bytes that are not UTF-8."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    text = out.getvalue()
    try:
        return text.encode(), None
    except UnicodeEncodeError:
        pass
    for index, cell in enumerate(row):
        try:
            cell.encode()
        except UnicodeEncodeError as exc:
            name = names[index] if index < len(names) else f"cell {index + 1}"
            byte = ord(cell[exc.start]) - 0xDC00
            return text.encode("utf-8", "surrogateescape"), f"{name}: not valid UTF-8 (byte 0x{byte:02x})"
    return text.encode("utf-8", "surrogateescape"), "not valid UTF-8"


def _typed_csv_row(number: int, raw: bytes, cells: dict[str, str]) -> RawLine:
    value: dict[str, Any] = {}
    for name, cell in cells.items():
        if cell == "":
            value[name] = None
        elif name in CSV_INT_FIELDS:
            digits = cell.strip()
            try:  # ASCII digits only: `²` passes isdigit() but is no number int() reads
                value[name] = int(digits) if digits.isascii() and digits.lstrip("+-").isdigit() else cell
            except ValueError:
                value[name] = cell
        elif name in CSV_FLOAT_FIELDS:
            try:
                value[name] = float(cell) if cell.isascii() and "_" not in cell else cell
            except ValueError:
                value[name] = cell
        elif name in CSV_JSON_FIELDS:
            try:
                value[name] = orjson.loads(cell)
            except orjson.JSONDecodeError as exc:
                return RawLine(number, raw, error=f"{name}: is not valid JSON ({exc})")
        else:
            value[name] = cell
    return RawLine(number, raw, value)


def read_source(
    path: str,
    wanted: str = "auto",
    max_line_bytes: int = MAX_LINE_BYTES,
    csv_columns: Sequence[str] | None = None,
) -> tuple[IO[bytes], Iterator[RawLine]]:
    """Open a source and iterate its records; the caller closes the stream. `csv_columns`: the columns a
    CSV header must have, when not the log format's."""
    stream = open_binary(path)
    fmt = detect_format(path, stream, wanted)
    if fmt == "jsonl":
        return stream, iter_jsonl(stream, max_line_bytes)
    return stream, iter_csv(stream, display_name(path), max_line_bytes, csv_columns)


def source_size(path: str) -> int | None:
    """The size in bytes of a regular file, for progress; None for stdin or pipes."""
    if path == "-":
        return None
    try:
        file = Path(path)
        if not file.is_file():
            return None
        with file.open("rb") as head:
            if head.read(2) == GZIP_MAGIC:
                return None  # what is read is the uncompressed size: no percentage
        return file.stat().st_size
    except OSError:
        return None
