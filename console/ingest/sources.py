"""Reading delivery logs: plain or gzip files, or stdin; JSON Lines or CSV; line numbers kept for errors."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

import orjson

GZIP_MAGIC = b"\x1f\x8b"
FORMATS = ("auto", "jsonl", "csv")
CSV_INT_FIELDS = ("attempt", "status_code")
CSV_FLOAT_FIELDS = ("latency_ms",)
CSV_JSON_FIELDS = ("request_headers",)


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
    return "<stdin>" if path == "-" else path


def open_binary(path: str) -> IO[bytes]:
    """Open a source for reading bytes, gunzipping transparently (by content, not by name)."""
    if path == "-":
        stream: IO[bytes] = sys.stdin.buffer
    else:
        try:
            stream = open(path, "rb")  # noqa: SIM115  (closed by the caller)
        except FileNotFoundError:
            raise SourceError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise SourceError(f"{path}: is a directory, not a log file") from None
        except OSError as exc:
            raise SourceError(f"{path}: cannot be read ({exc.strerror})") from None
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
    first = head.lstrip()[:1]
    return "jsonl" if first in (b"{", b"[", b"") else "csv"


def iter_jsonl(stream: IO[bytes]) -> Iterator[RawLine]:
    """Each non-blank line, undecoded."""
    for number, raw in enumerate(stream, start=1):
        if raw.strip():
            yield RawLine(number, raw)


def json_error(exc: orjson.JSONDecodeError, raw: bytes) -> str:
    """The reason a line is not JSON, calling a cut-off last line what it is."""
    text = str(exc)
    if not raw.endswith(b"\n") and ("EOF" in text or "unexpected end" in text.lower()):
        return f"not valid JSON (truncated line: {text})"
    return f"not valid JSON ({text})"


def iter_csv(stream: IO[bytes], source: str, required: Sequence[str] | None = None) -> Iterator[RawLine]:
    """Each CSV record after the header, as a mapping with typed cells (empty cells are null).

    The header must have the log format's required columns, or the `required` ones (a mapped log's)."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"{source}:1: the CSV header cannot be read ({exc})") from None
    if header is None:
        return
    names = [h.strip() for h in header]
    if required is None:
        required = ("event_id", "event_type", "endpoint_id", "attempt", "attempted_at")
    missing = [n for n in required if n not in names]
    if missing:
        raise SourceError(f"{source}:1: CSV header lacks required column(s): {', '.join(missing)}")
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            yield RawLine(start, b"", error=f"not valid UTF-8 ({exc.reason})")
            return
        except csv.Error as exc:
            yield RawLine(start, b"", error=f"not valid CSV ({exc})")
            start = reader.line_num + 1
            continue
        number, start = start, reader.line_num + 1
        raw = _csv_text(row)
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield RawLine(number, raw, error=f"has {len(row)} cells, the header has {len(names)}")
            continue
        yield _typed_csv_row(number, raw, dict(zip(names, row, strict=True)))


def _csv_text(row: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue().encode()


def _typed_csv_row(number: int, raw: bytes, cells: dict[str, str]) -> RawLine:
    value: dict[str, Any] = {}
    for name, cell in cells.items():
        if cell == "":
            value[name] = None
        elif name in CSV_INT_FIELDS:
            value[name] = int(cell) if cell.strip().lstrip("+-").isdigit() else cell
        elif name in CSV_FLOAT_FIELDS:
            try:
                value[name] = float(cell)
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
    path: str, wanted: str = "auto", csv_columns: Sequence[str] | None = None
) -> tuple[IO[bytes], Iterator[RawLine]]:
    """Open a source and iterate its records; the caller closes the stream. `csv_columns`: the columns a
    CSV header must have, when not the log format's."""
    stream = open_binary(path)
    fmt = detect_format(path, stream, wanted)
    records = iter_jsonl(stream) if fmt == "jsonl" else iter_csv(stream, display_name(path), csv_columns)
    return stream, records


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
