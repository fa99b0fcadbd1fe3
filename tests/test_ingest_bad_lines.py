"""Every kind of bad line is rejected with file, line number and field; every valid line still goes in."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.store import Store
from console.store.recount import verify_derived_state
from tests.helpers import log_line, run, table_count, write_jsonl


def _json(**fields: Any) -> bytes:
    return orjson.dumps(log_line("evt_bad", **fields))


def _without(name: str) -> bytes:
    line = log_line("evt_bad")
    del line[name]
    return orjson.dumps(line)


BAD_LINES: list[tuple[str, bytes, str]] = [
    ("broken json", b'{"event_id": "evt_bad", "attempt": ', "not valid JSON"),
    ("array", b"[1, 2, 3]", "must be a JSON object, got an array"),
    ("string", b'"hello"', "must be a JSON object, got a string"),
    ("number", b"42", "must be a JSON object, got an integer"),
    ("missing event_id", _without("event_id"), "event_id: missing (required)"),
    ("missing event_type", _without("event_type"), "event_type: missing (required)"),
    ("missing endpoint_id", _without("endpoint_id"), "endpoint_id: missing (required)"),
    ("missing attempt", _without("attempt"), "attempt: missing (required)"),
    ("missing attempted_at", _without("attempted_at"), "attempted_at: missing (required)"),
    ("missing payload on first line", _json(payload=...), "payload: required on the first line of an event"),
    ("attempt as string", _json(attempt="3"), "attempt: must be an integer >= 1, got '3'"),
    ("attempt as float", _json(attempt=1.5), "attempt: must be an integer >= 1, got 1.5"),
    ("attempt as bool", _json(attempt=True), "attempt: must be an integer >= 1, got True"),
    ("attempt zero", _json(attempt=0), "attempt: must be an integer >= 1, got 0"),
    (
        "event_id as number",
        orjson.dumps({**log_line("evt_bad"), "event_id": 123}),
        "event_id: must be a string, got an integer",
    ),
    ("empty endpoint_id", _json(endpoint_id=" "), "endpoint_id: must not be empty"),
    (
        "status as string",
        _json(status_code="200"),
        "status_code: must be an HTTP status 100-599 or null, got '200'",
    ),
    (
        "status 99999",
        _json(status_code=99999),
        "status_code: must be an HTTP status 100-599 or null, got 99999",
    ),
    (
        "latency as string",
        _json(latency_ms="fast"),
        "latency_ms: must be a number >= 0 or null, got a string",
    ),
    ("negative latency", _json(latency_ms=-5), "latency_ms: must be a number >= 0"),
    (
        "month 13",
        _json(attempted_at="2026-13-05T10:00:00Z"),
        "attempted_at: is not a real date and time (month must be in 1..12)",
    ),
    (
        "no offset",
        _json(attempted_at="2026-05-05T10:00:00"),
        "attempted_at: must be an RFC 3339 timestamp with an offset",
    ),
    (
        "time as number",
        _json(attempted_at=1714900000),
        "attempted_at: must be an RFC 3339 string, got an integer",
    ),
    (
        "unknown outcome",
        _json(outcome="exploded"),
        "outcome: must be one of success, http_error, timeout, network_error",
    ),
    (
        "contradicting outcome",
        _json(status_code=500, outcome="success"),
        "outcome: 'success' contradicts status_code 500",
    ),
    ("unknown trigger", _json(trigger="cron"), "trigger: must be scheduled or manual, got 'cron'"),
    ("binary junk", b"\x00\xff\xfe\x81garbage\x07", "not valid UTF-8 (byte 0xff at column 2)"),
    ("payload array", _json(payload=[1, 2]), "payload: must be a JSON object, got an array"),
    ("headers not object", _json(request_headers=["a"]), "request_headers: must be an object"),
    ("error as number", _json(error=5), "error: must be a string or null, got an integer"),
]


@pytest.mark.parametrize("name, bad, fragment", BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_bad_line_rejected_with_reason_and_rest_kept(
    tmp_path: Path, sqlite_store: Store, name: str, bad: bytes, fragment: str
) -> None:
    log = write_jsonl(
        tmp_path / "deliveries.jsonl",
        [
            log_line("evt_1"),
            log_line("evt_2"),
            bad,
            log_line("evt_3"),
            log_line("evt_1", attempt=2, attempted_at="2026-05-05T10:05:00Z"),
        ],
    )
    rejects = tmp_path / "rejects.jsonl"
    result = run("--db", sqlite_store.url, "ingest", str(log), "--rejects", str(rejects), "--json")
    assert result.exit_code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert (summary["accepted"], summary["rejected"], summary["duplicates"]) == (4, 1, 0)
    [entry] = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert entry["source"] == str(log) and entry["line"] == 3
    assert fragment in entry["reason"], entry["reason"]
    assert entry["raw"] == bad.decode("utf-8", errors="backslashreplace")
    assert table_count(sqlite_store, "delivery_attempt") == 4
    assert verify_derived_state(sqlite_store) == []


def test_rejects_printed_with_file_line_and_field_when_no_rejects_file(
    tmp_path: Path, sqlite_store: Store
) -> None:
    log = write_jsonl(tmp_path / "deliveries.jsonl", [log_line("evt_1"), _json(attempt=0)])
    result = run("--db", sqlite_store.url, "ingest", str(log))
    assert result.exit_code == 0
    assert f"rejected {log}:2: attempt: must be an integer >= 1, got 0" in result.stderr
    assert "accepted 1, rejected 1, duplicates 0" in result.stdout


def test_truncated_last_line(tmp_path: Path, sqlite_store: Store) -> None:
    log = tmp_path / "deliveries.jsonl"
    write_jsonl(log, [log_line("evt_1"), log_line("evt_2")])
    with log.open("ab") as out:
        out.write(orjson.dumps(log_line("evt_3"))[:40])  # the writer died mid-line
    rejects = tmp_path / "rejects.jsonl"
    result = run("--db", sqlite_store.url, "ingest", str(log), "--rejects", str(rejects))
    assert result.exit_code == 0
    [entry] = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert entry["line"] == 3 and "truncated line" in entry["reason"]
    assert table_count(sqlite_store, "delivery_attempt") == 2


def test_missing_file_fails_but_others_go_in(tmp_path: Path, sqlite_store: Store) -> None:
    log = write_jsonl(tmp_path / "deliveries.jsonl", [log_line("evt_1")])
    result = run("--db", sqlite_store.url, "ingest", str(tmp_path / "nope.jsonl"), str(log))
    assert result.exit_code == 1
    assert f"{tmp_path / 'nope.jsonl'}: no such file" in result.stderr
    assert table_count(sqlite_store, "delivery_attempt") == 1


def test_directory_and_empty_file(tmp_path: Path, sqlite_store: Store) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    result = run("--db", sqlite_store.url, "ingest", str(empty), "--json")
    assert result.exit_code == 0
    assert orjson.loads(result.stdout)["lines"] == 0
    result = run("--db", sqlite_store.url, "ingest", str(tmp_path))
    assert result.exit_code == 1 and "is a directory" in result.stderr


def test_corrupt_gzip_keeps_what_was_read(tmp_path: Path, sqlite_store: Store) -> None:
    data = gzip.compress(b"".join(orjson.dumps(log_line(f"evt_{i}")) + b"\n" for i in range(200)))
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(data[: len(data) // 2])
    result = run("--db", sqlite_store.url, "ingest", str(broken))
    assert result.exit_code == 1
    assert "broken.jsonl.gz: stopped reading" in result.stderr
    assert verify_derived_state(sqlite_store) == []


def test_event_type_mismatch_against_stored_event(tmp_path: Path, sqlite_store: Store) -> None:
    write_jsonl(tmp_path / "a.jsonl", [log_line("evt_1")])
    run("--db", sqlite_store.url, "ingest", str(tmp_path / "a.jsonl"))
    write_jsonl(tmp_path / "b.jsonl", [log_line("evt_1", attempt=2, event_type="reward.reversed")])
    rejects = tmp_path / "rejects.jsonl"
    run("--db", sqlite_store.url, "ingest", str(tmp_path / "b.jsonl"), "--rejects", str(rejects))
    [entry] = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert entry["line"] == 1
    assert "event_type: 'reward.reversed' does not match 'reward.redeemed'" in entry["reason"]


@pytest.mark.parametrize("other_endpoint", [True, False])
def test_event_type_mismatch_within_one_batch(tmp_path: Path, store: Store, other_endpoint: bool) -> None:
    """Attempts of one event in one batch naming two types, at another endpoint or at the same one: the
    later type is refused."""
    lines = [
        log_line("evt_1", "ep_a"),
        log_line("evt_1", "ep_b", payload=..., event_type="reward.reversed"),
        log_line("evt_1", "ep_a", attempt=2, event_type="reward.reversed"),
        log_line("evt_2", "ep_b"),
    ]
    if not other_endpoint:
        del lines[1]
    log = write_jsonl(tmp_path / "a.jsonl", lines)
    rejects = tmp_path / "rejects.jsonl"
    run("--db", store.url, "ingest", str(log), "--rejects", str(rejects))
    entries = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [e["line"] for e in entries] == ([2, 3] if other_endpoint else [2])
    assert all(
        "event_type: 'reward.reversed' does not match 'reward.redeemed'" in e["reason"] for e in entries
    )
    assert table_count(store, "delivery_attempt") == 2
    assert verify_derived_state(store) == []


def test_csv_bad_cells(tmp_path: Path, sqlite_store: Store) -> None:
    log = tmp_path / "deliveries.csv"
    payload = orjson.dumps(log_line("evt_1")["payload"]).decode().replace('"', '""')
    log.write_text(
        "event_id,event_type,endpoint_id,attempt,attempted_at,status_code,latency_ms,payload\n"
        f'evt_1,reward.redeemed,ep_a,1,2026-05-05T10:00:00Z,200,12.5,"{payload}"\n'
        "evt_1,reward.redeemed,ep_a,two,2026-05-05T10:01:00Z,200,12.5,\n"
        "evt_1,reward.redeemed,ep_a,3,2026-05-05T10:02:00Z,200\n"
        'evt_2,reward.redeemed,ep_a,1,2026-05-05T10:03:00Z,200,1,"{not json"\n'
    )
    rejects = tmp_path / "rejects.jsonl"
    result = run("--db", sqlite_store.url, "ingest", str(log), "--rejects", str(rejects), "--json")
    assert orjson.loads(result.stdout)["accepted"] == 1
    reasons = {e["line"]: e["reason"] for e in map(orjson.loads, rejects.read_bytes().splitlines())}
    assert "attempt: must be an integer >= 1, got 'two'" in reasons[3]
    assert "has 6 cells, the header has 8" in reasons[4]
    assert "payload: is not valid JSON" in reasons[5]


def test_csv_header_without_required_columns(tmp_path: Path, sqlite_store: Store) -> None:
    log = tmp_path / "deliveries.csv"
    log.write_text("event_id,endpoint_id\nevt_1,ep_a\n")
    result = run("--db", sqlite_store.url, "ingest", str(log))
    assert result.exit_code == 1
    assert (
        "deliveries.csv:1: CSV header lacks required column(s): event_type, attempt, attempted_at"
        in result.stderr
    )


@pytest.mark.parametrize("as_string", [False, True], ids=["object", "string"])
def test_the_payloads_own_ids_are_its_business(tmp_path: Path, sqlite_store: Store, as_string: bool) -> None:
    """A payload's own `event_id` / `event` keys (a receiver's ids, a business field) were once checked against
    the line's and the whole event rejected: now the line's ids are the event's and the payload is kept as sent."""
    body = {"event_id": "biz_42", "event": "redeem", "user_id": "u1"}
    line = log_line("evt_1", payload=orjson.dumps(body).decode() if as_string else body)
    result = run("--db", sqlite_store.url, "ingest", str(write_jsonl(tmp_path / "a.jsonl", [line])))
    assert result.exit_code == 0, result.stderr
    with sqlite_store.read() as conn:
        row = conn.exec_driver_sql("SELECT event_id, event_type, user_id, payload FROM event").one()
    assert (row[0], row[1], row[2]) == ("evt_1", "reward.redeemed", "u1")
    assert orjson.loads(row[3]) == body


@pytest.mark.parametrize("as_string", [False, True], ids=["fast path", "slow path"])
def test_business_fields_are_read_from_envelopes(
    tmp_path: Path, sqlite_store: Store, as_string: bool
) -> None:
    """A delivery log's payload read like a dispatcher's: the top level first, then `data.`, then `payload.`
    (docs/payload-fields.md); a field no path holds stays empty, never zero or ""."""
    bodies = {
        "evt_top": {"user_id": "u_top", "data": {"user_id": "u_no", "reward_id": "r_data"}},
        "evt_data": {
            "type": "reward.redeemed",
            "data": {
                "user_id": 7,
                "reward_id": "r1",
                "amount": 12.5,
                "currency": "EUR",
                "timestamp": "2026-05-05T09:00:00Z",
            },
        },
        "evt_payload": {"user_id": "", "data": None, "payload": {"user_id": "u_p", "amount": "5"}},
        "evt_none": {"body": {"user_id": "u_x"}, "amount": True},
    }
    lines = [log_line(e, payload=orjson.dumps(b).decode() if as_string else b) for e, b in bodies.items()]
    result = run("--db", sqlite_store.url, "ingest", str(write_jsonl(tmp_path / "a.jsonl", lines)))
    assert result.exit_code == 0, result.stderr
    with sqlite_store.read() as conn:
        rows = {
            r[0]: tuple(r[1:])
            for r in conn.exec_driver_sql(
                "SELECT event_id, user_id, reward_id, amount, currency, occurred_at FROM event"
            )
        }
    attempted = rows["evt_top"][4]
    assert rows == {
        "evt_top": ("u_top", "r_data", None, None, attempted),
        "evt_data": ("7", "r1", "12.5", "EUR", attempted - 3_600_000),
        "evt_payload": ("u_p", None, "5", None, attempted),
        "evt_none": (None, None, None, None, attempted),
    }
