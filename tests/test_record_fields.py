"""The attempt and event records' fields are declared once (console/domain/records.py): the named positions,
both log parsers, the store's columns and the attempts export all follow that declaration."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import inspect

from console.domain import records
from console.domain.records import (
    ATTEMPT_FIELDS,
    EVENT_FIELDS,
    INFORMATIONAL_LOG_FIELDS,
    LOG_FIELDS,
    AttemptRecord,
    EventRecord,
)
from console.domain.times import parse_rfc3339_ms
from console.ingest import fastpath
from console.ingest.fastpath import fast_parse
from console.ingest.lines import LineError, parse_line
from console.ingest.service import ingest_sources
from console.store import Store
from tests.helpers import run, write_jsonl

# A value for every log field, unlike any default, and what each becomes in the record it fills.
LINE: dict[str, Any] = {
    "event_id": "evt_fields",
    "event_type": "reward.redeemed",
    "endpoint_id": "ep_fields",
    "endpoint_url": "https://receiver.example/hook",
    "attempt": 3,
    "attempted_at": "2026-05-05T10:00:00.250Z",
    "outcome": "http_error",
    "status_code": 503,
    "latency_ms": 12.5,
    "error": "upstream busy",
    "trigger": "manual",
    "replay_job_id": "job_7",
    "request_headers": {"Content-Type": "application/json"},
    "response_body": "try later",
    "payload": {"user_id": "user_1", "reward_id": "rw_2", "amount": "9.50", "currency": "EUR"},
}
STORED: dict[str, Any] = {
    "attempted_at": parse_rfc3339_ms(LINE["attempted_at"]),
    "request_headers": '{"Content-Type":"application/json"}',
    "payload": orjson.dumps(LINE["payload"]),
}
WRONG_TYPE = [1, 2]  # no log field takes an array


def test_named_positions_are_the_records_field_order(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix, record in (("A_", AttemptRecord), ("E_", EventRecord)):
        named = {n[len(prefix) :].lower(): getattr(records, n) for n in dir(records) if n.startswith(prefix)}
        assert named == {name: i for i, name in enumerate(record._fields)}
    monkeypatch.setattr(records, "A_ERROR", records.A_TRIGGER)
    with pytest.raises(TypeError, match="not its field order"):
        records._check_positions("A_", AttemptRecord)


def test_declaration_names_every_field_in_order() -> None:
    assert tuple(f.name for f in ATTEMPT_FIELDS) == AttemptRecord._fields
    assert tuple(f.name for f in EVENT_FIELDS) == EventRecord._fields
    with pytest.raises(TypeError, match="are not its fields"):
        records._declared(EventRecord, EVENT_FIELDS[:-1])


def test_the_fast_path_decodes_exactly_the_declared_log_fields() -> None:
    assert set(fastpath._Line.__struct_fields__) == set(LOG_FIELDS)
    assert set(LINE) == set(LOG_FIELDS)  # this test gives every declared field a value


@pytest.mark.parametrize("path", ["slow", "fast"])
def test_both_parsers_read_each_declared_log_field_into_its_record_field(path: str) -> None:
    raw = orjson.dumps(LINE)
    if path == "fast":
        parsed = fast_parse(raw)
        assert parsed is not None
    else:
        parsed = parse_line(orjson.loads(raw), payload_bytes=orjson.dumps(LINE["payload"]))
    attempt, event = parsed
    assert event is not None
    for record, fields in ((attempt, ATTEMPT_FIELDS), (event, EVENT_FIELDS)):
        for f in fields:
            if f.log is not None:
                assert getattr(record, f.name) == STORED.get(f.log, LINE[f.log]), f.name


@pytest.mark.parametrize("name", [n for n in LOG_FIELDS if n not in INFORMATIONAL_LOG_FIELDS])
def test_the_slow_path_checks_each_declared_log_field_by_its_name(name: str) -> None:
    line = {**LINE, name: WRONG_TYPE}
    with pytest.raises(LineError) as caught:
        parse_line(line)
    assert caught.value.field == name
    assert fast_parse(orjson.dumps(line)) is None  # the fast path leaves it to the slow one


def test_the_store_has_the_declared_columns(store: Store) -> None:
    tables = inspect(store.engine)
    attempt_columns = {c["name"] for c in tables.get_columns("delivery_attempt")}
    event_columns = {c["name"] for c in tables.get_columns("event")}
    assert set(records.ATTEMPT_COLUMNS) == attempt_columns - {"seq"}
    assert set(records.EVENT_COLUMNS) <= event_columns


def test_the_attempts_export_has_the_declared_columns(store: Store, tmp_path: Path) -> None:
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", [LINE]))])
    folder = tmp_path / "out"
    result = run("--db", store.url, "export", "--format", "csv,json", "--out", str(folder))
    assert result.exit_code == 0, result.stderr
    exported = [
        "seq",
        *(f.export for f in ATTEMPT_FIELDS if f.export),
        *(f.export for f in EVENT_FIELDS if f.export and f.name != "payload"),
        "payload",
    ]
    with (folder / "attempts.csv").open(newline="") as handle:
        header, row = list(csv.reader(handle))
    assert header == exported
    cells = dict(zip(header, row, strict=True))
    assert cells["attempted_at"] == "2026-05-05T10:00:00.250Z" and cells["outcome"] == "http_error"
    assert cells["replay_job_id"] == "job_7" and cells["currency"] == "EUR"
    [obj] = orjson.loads((folder / "attempts.json").read_bytes())
    assert list(obj) == exported
