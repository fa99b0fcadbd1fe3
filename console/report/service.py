"""Writing reports and exports: what `report`, `export` and the console's report action call."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import pandas as pd

from console.analytics.build import DEFAULT_SLO, ReportData, build_report_data
from console.analytics.rows import records
from console.domain.filters import DeliveryFilter
from console.domain.times import format_ms
from console.domain.whatif import Schedule
from console.report.atomic import atomic_writer, write_atomic
from console.report.html_page import render_report
from console.report.text import printable_value
from console.store import Store
from console.store.frames import (
    ATTEMPT_EXPORT_COLUMNS,
    DELIVERY_FRAME_COLUMNS,
    iter_attempts,
    iter_deliveries,
)

FORMATS = ("html", "csv", "json")
DEFAULT_TITLE = "Webhook deliveries report"
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ReportOptions:
    title: str = DEFAULT_TITLE
    slo: float = DEFAULT_SLO
    plotlyjs: str = "inline"
    whatif_schedules: tuple[Schedule, ...] = ()  # compared in a section of their own when given


def default_report_path(data: ReportData, folder: Path = Path("reports")) -> Path:
    def stamp(ms: int) -> str:
        return format_ms(ms)[:16].replace("-", "").replace(":", "")

    return folder / f"report-{stamp(data.window.since_ms)}-{stamp(data.window.until_ms)}.html"


def write_report(
    store: Store,
    flt: DeliveryFilter,
    out: Path | None,
    now_ms: int,
    options: ReportOptions,
    generated_at_ms: int | None = None,
) -> tuple[Path, ReportData]:
    """Build the report's figures and write the page atomically; returns where it went."""
    data = build_report_data(store, flt, now_ms, options.slo, options.whatif_schedules)
    path = out or default_report_path(data)
    write_page(data, path, options, generated_at_ms or now_ms, store.display_url)
    return path, data


def write_page(
    data: ReportData, path: Path, options: ReportOptions, generated_at_ms: int, store_name: str
) -> Path:
    page = render_report(
        data,
        title=options.title,
        plotlyjs=options.plotlyjs,
        generated_at_ms=generated_at_ms,
        store_name=store_name,
    )

    def produce(stream: IO[bytes]) -> None:
        stream.write(page.encode("utf-8"))

    return write_atomic(path, produce)


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a leading apostrophe."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    value = printable_value(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def _write_csv(out: IO[bytes], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        count += 1
    text.flush()
    text.detach()
    return count


def _write_json(out: IO[bytes], objects: Iterable[dict[str, Any]]) -> int:
    out.write(b"[")
    count = 0
    for obj in objects:
        obj = {key: printable_value(value) for key, value in obj.items()}  # the payload Fragment stays exact
        out.write((b",\n" if count else b"\n") + orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS))
        count += 1
    out.write(b"\n]\n")
    return count


_LATENCY = ATTEMPT_EXPORT_COLUMNS.index("latency_ms")
_ATTEMPTED_AT = ATTEMPT_EXPORT_COLUMNS.index("attempted_at")


def _attempt_rows(store: Store, flt: DeliveryFilter) -> Iterable[list[Any]]:
    for page in iter_attempts(store, flt):
        for found in page:
            row = list(found)
            row[_ATTEMPTED_AT] = format_ms(row[_ATTEMPTED_AT])
            latency = row[_LATENCY]
            if isinstance(latency, float):
                row[_LATENCY] = round(latency, 3)  # 92.9, not 92.89999999999999
            yield row


def _attempt_objects(store: Store, flt: DeliveryFilter) -> Iterable[dict[str, Any]]:
    for row in _attempt_rows(store, flt):
        obj = dict(zip(ATTEMPT_EXPORT_COLUMNS, row, strict=True))
        payload = obj["payload"]
        obj["payload"] = orjson.Fragment(bytes(payload)) if payload else None  # the stored bytes, exactly
        yield obj


def _delivery_rows(store: Store, flt: DeliveryFilter) -> Iterable[list[Any]]:
    times = {DELIVERY_FRAME_COLUMNS.index(c) for c in ("first_attempt_at", "delivered_at", "occurred_at")}
    for page in iter_deliveries(store, flt):
        for row in page:
            yield [format_ms(v) if i in times and v is not None else v for i, v in enumerate(row)]


def _frame_records(frame: pd.DataFrame, times: Sequence[str]) -> list[dict[str, Any]]:
    out = records(frame)
    for record in out:
        for column in times:
            if record.get(column) is not None:
                record[column] = format_ms(int(record[column]))
    return out


EXPORT_TABLES = ("attempts", "deliveries", "incidents", "replays")


def export_files(folder: Path, formats: Sequence[str]) -> list[Path]:
    """Every file `export` writes into `folder` for these formats."""
    report = [folder / "report.html"] if "html" in formats else []
    return report + [
        folder / f"{name}.{ext}" for name in EXPORT_TABLES for ext in ("csv", "json") if ext in formats
    ]


@dataclass
class ExportResult:
    files: list[tuple[Path, int]] = field(default_factory=list)  # path, rows (0 for the report)


def export(
    store: Store,
    flt: DeliveryFilter,
    folder: Path,
    formats: Sequence[str],
    now_ms: int,
    options: ReportOptions,
) -> ExportResult:
    """The report plus attempts, deliveries and incidents as CSV and/or JSON; every file written atomically."""
    result = ExportResult()
    folder.mkdir(parents=True, exist_ok=True)
    data = build_report_data(store, flt, now_ms, options.slo, options.whatif_schedules)
    if "html" in formats:
        result.files.append((write_page(data, folder / "report.html", options, now_ms, store.display_url), 0))
    # The listed attempts and deliveries apply every filter asked for (a status code too), in the report's window.
    scoped = flt.with_(since_ms=data.window.since_ms, until_ms=data.window.until_ms)
    incident_records = _frame_records(data.incidents, ["start_ms", "end_ms"])
    for record in incident_records:
        record["success_rate"] = round(record["success_rate"], 6)
    replay_records = _frame_records(data.replays, ["created_at"])
    tables: list[tuple[str, Sequence[str], Any, Any]] = [
        (
            "attempts",
            ATTEMPT_EXPORT_COLUMNS,
            lambda: _attempt_rows(store, scoped),
            lambda: _attempt_objects(store, scoped),
        ),
        (
            "deliveries",
            DELIVERY_FRAME_COLUMNS,
            lambda: _delivery_rows(store, scoped),
            lambda: (
                dict(zip(DELIVERY_FRAME_COLUMNS, r, strict=True)) for r in _delivery_rows(store, scoped)
            ),
        ),
        (
            "incidents",
            list(data.incidents.columns),
            lambda: ([r.get(c) for c in data.incidents.columns] for r in incident_records),
            lambda: iter(incident_records),
        ),
        (
            "replays",
            list(data.replays.columns),
            lambda: ([r.get(c) for c in data.replays.columns] for r in replay_records),
            lambda: iter(replay_records),
        ),
    ]
    for name, header, rows, objects in tables:
        if "csv" in formats:
            target = folder / f"{name}.csv"
            with atomic_writer(target) as out:
                count = _write_csv(out, header, rows())
            result.files.append((target, count))
        if "json" in formats:
            target = folder / f"{name}.json"
            with atomic_writer(target) as out:
                count = _write_json(out, objects())
            result.files.append((target, count))
    return result
