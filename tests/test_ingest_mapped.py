"""`ingest --map`: home-grown JSON lines and CSV read through a mapping file, on both stores."""

from __future__ import annotations

import csv
import gzip
import io
import signal
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.domain.times import parse_rfc3339_ms
from console.ingest import service
from console.ingest.follow import follow
from console.ingest.mapping import SKIP, MappingError, apply, load_mapping, parse_mapping
from console.ingest.service import RejectSink, ingest_sources
from console.sandbox.sample import generate
from console.store import Store, open_store
from console.store.recount import verify_derived_state
from tests.helpers import HOME_GROWN_MAPPING, run, stored_attempts, table_count, wait_until, write_jsonl

END = parse_rfc3339_ms("2026-11-01T00:00:00Z")

NOISE = [
    {"msg": "request served", "ts": 1793405118.5, "http": {"status": 200, "duration_s": 0.01}},
    {"msg": "webhook.queued", "webhook": {"id": "evt_x", "try": 1}},
    {"level": "debug", "text": "no msg at all"},
    [1, 2, 3],
]


def _home_grown(native: dict[str, Any], index: int) -> dict[str, Any]:
    """A native log line in the shape a home-grown dispatcher logs; payloads alternate object / JSON text."""
    webhook: dict[str, Any] = {
        "id": native["event_id"],
        "type": native["event_type"],
        "endpoint": native["endpoint_id"],
        "url": native.get("endpoint_url"),
        "try": native["attempt"],
        "trigger": native.get("trigger"),
    }
    if "payload" in native:
        body = native["payload"]
        webhook["body"] = body if index % 2 else orjson.dumps(body).decode()
    latency = native.get("latency_ms")
    line = {
        "level": "info",
        "msg": "webhook.attempt",
        "ts": parse_rfc3339_ms(native["attempted_at"]) / 1000,
        "webhook": webhook,
        "http": {
            "status": native.get("status_code"),
            "duration_s": None if latency is None else latency / 1000,
            "request_headers": native.get("request_headers"),
            "response": native.get("response_body"),
        },
        "error": native.get("error"),
    }
    return line


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path, Path]:
    """Native sample lines, the same attempts as a home-grown log with noise lines mixed in, and its mapping."""
    folder = tmp_path_factory.mktemp("mapped")
    native_path = generate(folder, events=300, days=1, seed=7, end_ms=END).path
    native = [orjson.loads(line) for line in native_path.read_bytes().splitlines()]
    lines: list[Any] = []
    for index, line in enumerate(native):
        lines.append(_home_grown(line, index))
        if index % 9 == 0:
            lines.append(NOISE[index // 9 % len(NOISE)])
    log = write_jsonl(folder / "app.log", lines)
    mapping = folder / "mapping.toml"
    mapping.write_text(HOME_GROWN_MAPPING)
    return native, log, mapping


def _expected_stats(native: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures `stats --json` must show, counted straight from the input lines."""
    outcomes = {"success": 0, "http_error": 0, "timeout": 0, "network_error": 0}
    delivered: dict[tuple[str, str], bool] = {}
    first = first_ok = 0
    for line in native:
        status = line.get("status_code")
        ok = status is not None and 200 <= status < 300
        if status is not None:
            outcomes["success" if ok else "http_error"] += 1
        elif "time" in (line.get("error") or "").lower():
            outcomes["timeout"] += 1
        else:
            outcomes["network_error"] += 1
        key = (line["event_id"], line["endpoint_id"])
        delivered[key] = delivered.get(key, False) or ok
        if line["attempt"] == 1:
            first += 1
            first_ok += ok
    return {
        "attempts": len(native),
        "outcomes": outcomes,
        "deliveries": len(delivered),
        "delivered": sum(delivered.values()),
        "undelivered": sum(not d for d in delivered.values()),
        "first_attempt_success_rate": round(first_ok / first, 6),
        "final_success_rate": round(sum(delivered.values()) / len(delivered), 6),
    }


def test_mapped_json_lines_give_the_figures_of_the_input(
    store_url: str, sample: tuple[list[dict[str, Any]], Path, Path]
) -> None:
    native, log, mapping = sample
    noise = sum(1 for index in range(len(native)) if index % 9 == 0)
    result = run("--db", store_url, "ingest", "--map", str(mapping), str(log), "--json")
    assert result.exit_code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert (summary["accepted"], summary["rejected"], summary["duplicates"]) == (len(native), 0, 0)
    assert summary["skipped"] == noise and summary["lines"] == len(native) + noise

    stats = orjson.loads(run("--db", store_url, "stats", "--json").stdout)
    expected = _expected_stats(native)
    assert {key: stats[key] for key in expected} == expected
    latencies = [line["latency_ms"] for line in native if line.get("latency_ms") is not None]
    assert stats["latency_ms"]["count"] == len(latencies)
    assert stats["latency_ms"]["mean"] == pytest.approx(statistics.fmean(latencies), abs=0.01)
    assert stats["latency_ms"]["p50"] == pytest.approx(statistics.median(latencies), rel=0.03)

    again = orjson.loads(run("--db", store_url, "ingest", "--map", str(mapping), str(log), "--json").stdout)
    assert (again["accepted"], again["duplicates"], again["skipped"]) == (0, len(native), noise)
    text = run("--db", store_url, "ingest", "--map", str(mapping), str(log)).stdout
    assert f"skipped {noise}" in text


def test_mapped_log_stores_what_the_native_log_stores(
    tmp_path: Path, sample: tuple[list[dict[str, Any]], Path, Path]
) -> None:
    native, log, mapping = sample
    native_log = write_jsonl(tmp_path / "native.jsonl", native)
    stores = {}
    for name, args in (("native", [str(native_log)]), ("mapped", ["--map", str(mapping), str(log)])):
        url = f"sqlite:///{tmp_path / name}.db"
        assert run("--db", url, "ingest", *args).exit_code == 0
        stores[name] = open_store(url)
    try:
        queries = (
            "SELECT event_id, endpoint_id, attempt, attempted_at, status_code, ROUND(latency_ms, 6), outcome,"
            " error, trigger, request_headers, response_excerpt FROM delivery_attempt ORDER BY 1, 2, 3",
            "SELECT event_id, event_type, occurred_at, payload, user_id, amount FROM event ORDER BY 1",
        )
        for query in queries:
            rows = {}
            for name, store in stores.items():
                with store.read() as conn:
                    rows[name] = conn.exec_driver_sql(query).all()
            assert rows["native"] and rows["native"] == rows["mapped"]
        assert verify_derived_state(stores["mapped"]) == []
    finally:
        for store in stores.values():
            store.close()


def _ingest(
    store: Store, text: str, mapping: str, name: str = "app.log", **kwargs: Any
) -> tuple[Any, list[str]]:
    folder = Path(store.url.removeprefix("sqlite:///")).parent if store.url.startswith("sqlite") else None
    assert folder is not None
    log = folder / name
    log.write_text(text)
    reasons: list[str] = []
    sink = RejectSink(on_reject=lambda r: reasons.append(f"{Path(r.source).name}:{r.line}: {r.reason}"))
    summary = ingest_sources(store, [str(log)], rejects=sink, mapping=parse_mapping(mapping), **kwargs)
    return summary, reasons


@pytest.fixture
def sqlite_file_store(tmp_path: Path) -> Any:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


def _attempts(store: Store) -> list[tuple[Any, ...]]:
    with store.read() as conn:
        return list(
            conn.exec_driver_sql(
                "SELECT event_id, attempt, attempted_at, status_code, latency_ms, outcome, error"
                " FROM delivery_attempt ORDER BY event_id, attempt"
            ).all()
        )


EPOCH_MAPPING = """
[fields]
event_id = "id"
event_type = "kind"
endpoint_id = "target"
attempt = "n"
attempted_at = { path = "at", format = "epoch_ms" }
status_code = "code"
latency_ms = { path = "took_us", scale = 0.001 }
payload = "data"
[defaults]
event_type = "order.paid"
"""


def test_epoch_ms_scaled_latency_string_numbers_and_defaults(sqlite_file_store: Store) -> None:
    lines = [
        {
            "id": "e1",
            "target": "ep",
            "n": 1,
            "at": 1714903200123,
            "code": 503,
            "took_us": 250500,
            "data": {"a": 1},
        },
        {"id": "e1", "target": "ep", "n": "2", "at": "1714903260000", "code": "200", "took_us": "1500"},
        {
            "id": 42,
            "kind": "order.refunded",
            "target": "ep",
            "n": 1,
            "at": 1714903200000,
            "code": 0,
            "data": {},
        },
        {
            "id": "e3",
            "target": "ep",
            "n": 1,
            "at": 1714903200000,
            "code": "503 Service Unavailable",
            "data": {},
        },
    ]
    text = "".join(orjson.dumps(line).decode() + "\n" for line in lines)
    summary, reasons = _ingest(sqlite_file_store, text, EPOCH_MAPPING)
    assert reasons == [] and summary.accepted == 4 and summary.skipped == 0
    assert _attempts(sqlite_file_store) == [
        ("42", 1, 1714903200000, None, None, "network_error", None),
        ("e1", 1, 1714903200123, 503, 250.5, "http_error", None),
        ("e1", 2, 1714903260000, 200, 1.5, "success", None),
        ("e3", 1, 1714903200000, 503, None, "http_error", None),
    ]
    with sqlite_file_store.read() as conn:
        types: dict[str, str] = dict(conn.exec_driver_sql("SELECT event_id, event_type FROM event").all())
    assert types == {"e1": "order.paid", "42": "order.refunded", "e3": "order.paid"}


PAYLOAD_MAPPING = """
[fields]
event_id = "event.id"
event_type = "event.type"
endpoint_id = "endpoint"
attempt = "attempt"
attempted_at = "time"
payload = "event.data"
"""


def test_payload_as_object_and_as_json_string(sqlite_file_store: Store) -> None:
    as_text = '{"event_id": "e2",  "amount": 12.50}'
    lines = [
        {
            "event": {"id": "e1", "type": "t", "data": {"amount": 5, "currency": "EUR"}},
            "endpoint": "ep",
            "attempt": 1,
            "time": "2026-05-05T10:00:00Z",
        },
        {
            "event": {"id": "e2", "type": "t", "data": as_text},
            "endpoint": "ep",
            "attempt": 1,
            "time": "2026-05-05T10:00:00Z",
        },
    ]
    text = "".join(orjson.dumps(line).decode() + "\n" for line in lines)
    summary, reasons = _ingest(sqlite_file_store, text, PAYLOAD_MAPPING)
    assert reasons == [] and summary.accepted == 2
    with sqlite_file_store.read() as conn:
        stored: dict[str, bytes] = dict(conn.exec_driver_sql("SELECT event_id, payload FROM event").all())
    assert bytes(stored["e1"]) == b'{"amount":5,"currency":"EUR"}'
    assert bytes(stored["e2"]) == as_text.encode()  # kept byte for byte


def test_bad_lines_are_rejected_naming_field_and_path(sqlite_file_store: Store) -> None:
    mapping = HOME_GROWN_MAPPING
    good = {
        "msg": "webhook.attempt",
        "ts": 1714903200,
        "webhook": {"id": "e1", "type": "t", "endpoint": "ep", "try": 1, "body": {"a": 1}},
        "http": {"status": 200, "duration_s": 0.1},
    }

    def variant(**changes: Any) -> str:
        line = orjson.loads(orjson.dumps(good))
        for dotted, value in changes.items():
            node = line
            *parents, last = dotted.split("__")
            for part in parents:
                node = node[part]
            node[last] = value
        return orjson.dumps(line).decode()

    lines = [
        variant(webhook__try="x"),
        variant(ts="yesterday"),
        variant(ts=1714903200000),
        variant(http__status=99),
        variant(http__duration_s="slow"),
        variant(webhook__body="{not json"),
        variant(webhook__id=None),
        '{"msg": "webhook.attempt", "webhook": ',
        variant(webhook__body=[1, 2]),
        variant(webhook__id="e_orphan", webhook__try=2, webhook__body=None),  # no payload, event unknown
        variant(),
    ]
    summary, reasons = _ingest(sqlite_file_store, "\n".join(lines) + "\n", mapping)
    assert summary.accepted == 1 and summary.rejected == 10
    assert reasons[0] == "app.log:1: attempt (webhook.try): must be an integer >= 1, got 'x'"
    assert (
        reasons[1]
        == "app.log:2: attempted_at (ts): must be a number of seconds since the epoch, got 'yesterday'"
    )
    assert reasons[2].startswith(
        "app.log:3: attempted_at (ts): 1714903200000 seconds since the epoch is out of"
    )
    assert (
        reasons[3] == "app.log:4: status_code (http.status): must be an HTTP status 100-599 or null, got 99"
    )
    assert reasons[4] == (
        "app.log:5: latency_ms (http.duration_s): must be a number >= 0 or null, got a string"
    )
    assert reasons[5].startswith("app.log:6: payload (webhook.body): is not valid JSON")
    assert reasons[6] == "app.log:7: event_id (webhook.id): missing (required)"
    assert reasons[7].startswith("app.log:8: not valid JSON (")
    assert reasons[8] == "app.log:9: payload (webhook.body): must be a JSON object, got an array"
    assert reasons[9].startswith("app.log:10: payload (webhook.body): required on the first line of an event")


def test_rfc3339_field_given_a_number_says_how_to_map_it(sqlite_file_store: Store) -> None:
    text = '{"id": "e", "t": "x", "ep": "p", "n": 1, "at": 1714903200, "data": {}}\n'
    mapping = '[fields]\nevent_id="id"\nevent_type="t"\nendpoint_id="ep"\nattempt="n"\nattempted_at="at"\n'
    _, reasons = _ingest(sqlite_file_store, text, mapping)
    assert reasons[0].startswith("app.log:1: attempted_at (at): must be an RFC 3339 string, got a number")
    assert 'format = "epoch_s"' in reasons[0]


CSV_MAPPING = """
[match]
path = "kind"
equals = ["attempt", "retry"]

[fields]
event_id = "Event ID"
event_type = "Event Type"
endpoint_id = "Endpoint"
attempt = "Try"
attempted_at = { path = "When", format = "epoch_s" }
status_code = "HTTP"
latency_ms = { path = "Seconds", scale = 1000 }
error = "Error"
payload = "Body"
"""


def _csv_text() -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["kind", "Event ID", "Event Type", "Endpoint", "Try", "When", "HTTP", "Seconds", "Error", "Body"]
    )
    writer.writerow(["attempt", "e1", "t", "ep", "1", "1714903200", "500", "0.2", "", '{"a": 1}'])
    writer.writerow(["heartbeat", "", "", "", "", "", "", "", "", ""])
    writer.writerow(["retry", "e1", "t", "ep", "2", "1714903260.25", "", "", "read timed out", ""])
    writer.writerow(["retry", "e1", "t", "ep", "3", "1714903320", "204", "0.05", "", ""])
    writer.writerow(["retry", "e1", "t", "ep", "zero", "1714903320", "204", "0.05", "", ""])
    return out.getvalue()


def test_csv_with_a_mapping(sqlite_file_store: Store) -> None:
    summary, reasons = _ingest(sqlite_file_store, _csv_text(), CSV_MAPPING, name="app.csv")
    assert (summary.accepted, summary.skipped, summary.rejected) == (3, 1, 1)
    assert reasons == ["app.csv:6: attempt (Try): must be an integer >= 1, got 'zero'"]
    assert _attempts(sqlite_file_store) == [
        ("e1", 1, 1714903200000, 500, 200.0, "http_error", None),
        ("e1", 2, 1714903260250, None, None, "timeout", "read timed out"),
        ("e1", 3, 1714903320000, 204, 50.0, "success", None),
    ]


def test_csv_lacking_a_mapped_column_is_a_failed_source(sqlite_file_store: Store) -> None:
    text = _csv_text().replace("Endpoint", "Target", 1)
    summary, _ = _ingest(sqlite_file_store, text, CSV_MAPPING, name="app.csv")
    assert summary.accepted == 0
    [failed] = summary.failed_sources
    assert failed.endswith("app.csv:1: CSV header lacks required column(s): Endpoint")


def test_gzip_and_stdin(
    store_url: str, tmp_path: Path, sample: tuple[list[dict[str, Any]], Path, Path]
) -> None:
    native, log, mapping = sample
    head = log.read_bytes().splitlines(keepends=True)
    gz = tmp_path / "part1.log.gz"
    gz.write_bytes(gzip.compress(b"".join(head[:200])))
    rest = b"".join(head[200:])
    first = run("--db", store_url, "ingest", "--map", str(mapping), str(gz), "--json")
    second = run("--db", store_url, "ingest", "--map", str(mapping), "-", "--json", stdin=rest)
    assert first.exit_code == 0 and second.exit_code == 0, (first.stderr, second.stderr)
    one, two = orjson.loads(first.stdout), orjson.loads(second.stdout)
    assert one["sources"] == [str(gz)] and two["sources"] == ["<stdin>"]
    assert one["accepted"] + two["accepted"] == len(native)
    assert one["skipped"] + two["skipped"] + len(native) == len(head)
    stats = orjson.loads(run("--db", store_url, "stats", "--json").stdout)
    expected = _expected_stats(native)
    assert {key: stats[key] for key in expected} == expected


def test_large_mapped_files_are_read_in_one_process(
    tmp_path: Path, sample: tuple[list[dict[str, Any]], Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    native, log, mapping = sample
    monkeypatch.setattr(service, "PARALLEL_MIN_BYTES", 0)  # any native file would go to the parser process
    assert service.use_parallel([str(log)])
    store = open_store(f"sqlite:///{tmp_path / 'big.db'}")
    try:
        summary = ingest_sources(store, [str(log)], mapping=load_mapping(mapping), batch_size=100)
        assert summary.accepted == len(native) and summary.rejected == 0 and summary.skipped > 0
        assert verify_derived_state(store) == []
    finally:
        store.close()


def test_follow_a_mapped_file(
    store: Store, tmp_path: Path, sample: tuple[list[dict[str, Any]], Path, Path]
) -> None:
    native, log, mapping_path = sample
    lines = log.read_bytes().splitlines(keepends=True)
    live = tmp_path / "live.log"
    live.write_bytes(b"".join(lines[:50]))
    stop = threading.Event()
    results = []
    mapping = load_mapping(mapping_path)

    def attempts_in(chunk: list[bytes]) -> int:
        return sum(1 for line in chunk if b'"msg":"webhook.attempt"' in line)

    worker = threading.Thread(
        target=lambda: results.append(
            follow(store, str(live), stop, poll_s=0.05, flush_s=0.1, mapping=mapping)
        )
    )
    worker.start()
    try:
        wait_until(lambda: table_count(store, "delivery_attempt") == attempts_in(lines[:50]))
        with live.open("ab") as out:
            out.write(b"".join(lines[50:]))
        wait_until(lambda: table_count(store, "delivery_attempt") == len(native))
    finally:
        stop.set()
        worker.join(timeout=10)
    [summary] = results
    assert summary.accepted == len(native) and summary.rejected == 0
    assert summary.skipped == len(lines) - len(native)
    assert verify_derived_state(store) == []


def test_ingest_follow_with_a_mapping_process(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(HOME_GROWN_MAPPING)
    attempt = {"msg": "webhook.attempt", "ts": 1714903200, "http": {"status": 200}}
    webhook = {"type": "t", "endpoint": "ep", "try": 1, "body": {}}
    live = write_jsonl(
        tmp_path / "live.log", [{"msg": "boot"}, {**attempt, "webhook": {**webhook, "id": "e1"}}]
    )
    db = tmp_path / "follow.db"
    command = [sys.executable, "-m", "console", "--db", str(db), "ingest", "--map", str(mapping), str(live)]
    process = subprocess.Popen(
        [*command, "--follow", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: stored_attempts(db) == 1)
        with live.open("ab") as out:
            out.write(orjson.dumps({"msg": "tick"}) + b"\n")
            out.write(orjson.dumps({**attempt, "webhook": {**webhook, "id": "e2"}}) + b"\n")
        wait_until(lambda: stored_attempts(db) == 2)
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    summary = orjson.loads(stdout)
    assert (summary["accepted"], summary["skipped"], summary["rejected"]) == (2, 2, 0)


def test_apply_reads_dotted_keys_indexes_and_match_kinds() -> None:
    mapping = parse_mapping(
        """
        [match]
        path = "ok"
        equals = true
        [fields]
        event_id = "a.b"
        event_type = "list.1.name"
        endpoint_id = "http.target"
        attempt = "n"
        attempted_at = "t"
        """
    )
    line = {"ok": True, "a": {"b": "e1"}, "list": [{}, {"name": "x"}], "http.target": "ep", "n": 1, "t": "z"}
    assert apply(mapping, line) == {
        "event_id": "e1",
        "event_type": "x",
        "endpoint_id": "ep",
        "attempt": 1,
        "attempted_at": "z",
    }
    nested_first = {**line, "a": {"b": "nested"}, "a.b": "flat"}
    assert apply(mapping, nested_first)["event_id"] == "nested"  # type: ignore[index]
    grouped = {**line, "a": {}, "list": {"1.name": "y"}}
    assert apply(mapping, grouped) == {
        "event_type": "y",
        "endpoint_id": "ep",
        "attempt": 1,
        "attempted_at": "z",
    }
    assert apply(mapping, {**line, "ok": 1}) is SKIP  # 1 is not true
    assert apply(mapping, {**line, "ok": "true"}) is SKIP
    assert apply(mapping, "not an object") is SKIP


BASE_FIELDS = """
[fields]
event_id = "id"
event_type = "type"
endpoint_id = "ep"
attempt = "n"
attempted_at = "at"
"""

BAD_MAPPINGS = [
    (
        "bad toml",
        "[fields\nevent_id = 1",
        "not valid TOML (Expected ']' at the end of a table declaration (at line 1",
    ),
    (
        "unknown field",
        BASE_FIELDS + 'evnt_typ = "x"\n',
        "fields.evnt_typ: unknown field (did you mean event_type?)",
    ),
    ("unknown section", BASE_FIELDS + "[feilds]\n", "feilds: unknown section"),
    ("no fields", '[match]\npath = "a"\nequals = "b"\n', "fields: missing"),
    ("missing required", BASE_FIELDS.replace('attempt = "n"\n', ""), "fields.attempt: missing"),
    (
        "unknown format",
        BASE_FIELDS.replace('attempted_at = "at"', 'attempted_at = { path = "at", format = "epoch_min" }'),
        "fields.attempted_at.format: must be one of rfc3339, epoch_s, epoch_ms",
    ),
    (
        "scale not a number",
        BASE_FIELDS + 'latency_ms = { path = "s", scale = "1000" }\n',
        "fields.latency_ms.scale: must be a number",
    ),
    (
        "scale zero",
        BASE_FIELDS + 'latency_ms = { path = "s", scale = 0 }\n',
        "fields.latency_ms.scale: must be a number > 0",
    ),
    (
        "scale elsewhere",
        BASE_FIELDS + 'status_code = { path = "s", scale = 2 }\n',
        "fields.status_code.scale: only latency_ms",
    ),
    (
        "format elsewhere",
        BASE_FIELDS + 'error = { path = "s", format = "epoch_s" }\n',
        "fields.error.format: only attempted_at",
    ),
    ("table without path", BASE_FIELDS + "latency_ms = { scale = 2 }\n", "fields.latency_ms.path: missing"),
    ("path not text", BASE_FIELDS + "error = 3\n", "fields.error: must be a path"),
    ("empty path segment", BASE_FIELDS + 'error = "a..b"\n', "fields.error: must be a dotted path"),
    ("match without equals", BASE_FIELDS + '[match]\npath = "msg"\n', "match.equals: missing"),
    ("match without path", BASE_FIELDS + '[match]\nequals = "x"\n', "match.path: missing"),
    (
        "match unknown key",
        BASE_FIELDS + '[match]\npath = "m"\nequals = "x"\nis = "y"\n',
        "match.is: unknown key",
    ),
    (
        "match equals table",
        BASE_FIELDS + '[match]\npath = "m"\nequals = { a = 1 }\n',
        "match.equals: must be",
    ),
    ("default unknown field", BASE_FIELDS + '[defaults]\ncolour = "red"\n', "defaults.colour: unknown field"),
    (
        "default bad value",
        BASE_FIELDS + '[defaults]\ntrigger = "sometimes"\n',
        "defaults.trigger: must be scheduled or manual",
    ),
    (
        "default payload",
        BASE_FIELDS + '[defaults]\npayload = "{}"\n',
        "defaults.payload: an event's payload cannot",
    ),
    ("key in the wrong table", BASE_FIELDS + 'match = "x"\n', "fields.match: unknown field"),
    ("section not a table", 'match = "x"\n' + BASE_FIELDS, "match: must be a table ([match]), got a string"),
]


@pytest.mark.parametrize(("kind", "text", "message"), BAD_MAPPINGS, ids=[b[0] for b in BAD_MAPPINGS])
def test_bad_mapping_files_fail_with_one_line_naming_the_key(
    tmp_path: Path, kind: str, text: str, message: str
) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(text)
    log = write_jsonl(
        tmp_path / "app.log", [{"id": "e", "type": "t", "ep": "p", "n": 1, "at": "2026-05-05T10:00:00Z"}]
    )
    db = tmp_path / "store.db"
    result = run("--db", str(db), "ingest", "--map", str(mapping), str(log))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"hookconsole: --map {mapping}: ")
    assert message in result.stderr, result.stderr
    assert not db.exists()  # nothing ingested: the store is not even opened
    with pytest.raises(MappingError):
        load_mapping(mapping)


def test_a_mapping_file_with_three_problems_reports_all_three(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        BASE_FIELDS.replace('attempt = "n"\n', "")
        + 'latency_ms = { path = "s", scale = 0 }\n[match]\npath = "kind"\n'
    )
    expected = [
        "fields.latency_ms.scale: must be a number > 0, got 0",
        "fields.attempt: missing: required fields need a path in [fields] (or a constant in [defaults]): attempt",
        "match.equals: missing: the value at match.path that marks a delivery attempt",
    ]
    with pytest.raises(MappingError) as raised:
        load_mapping(mapping)
    assert raised.value.problems == [f"{mapping}: {line}" for line in expected]
    log = write_jsonl(tmp_path / "app.log", [{"id": "e"}])
    result = run("--db", str(tmp_path / "store.db"), "ingest", "--map", str(mapping), str(log))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"hookconsole: --map {mapping}: {expected[0]}",
        *(f"--map {mapping}: {line}" for line in expected[1:]),
    ]


def test_missing_mapping_file(tmp_path: Path) -> None:
    result = run("--db", str(tmp_path / "s.db"), "ingest", "--map", str(tmp_path / "nope.toml"), "x.log")
    assert result.exit_code == 1 and "nope.toml: no such file" in result.stderr
