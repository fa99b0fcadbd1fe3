"""The two ways a line is read (msgspec fast path, Python slow path) and the two ways a file is ingested
(one process, parser process + writer) must give the same store and the same rejects."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.domain.times import parse_rfc3339_ms
from console.ingest import service
from console.ingest.fastpath import fast_parse
from console.ingest.lines import LineError, parse_line
from console.ingest.log_files import RawLine
from console.ingest.service import RejectSink, ingest_sources, parse_record, slow_parse
from console.sandbox.sample import generate
from console.store import open_store
from console.store.recount import stored_state, verify_derived_state
from tests.helpers import log_line, write_jsonl
from tests.test_ingest_bad_lines import BAD_LINES


def _mutations(rng: random.Random) -> list[bytes]:
    """Valid lines and lines with one field knocked out of shape, in many combinations."""
    values: list[Any] = [
        None,
        0,
        1,
        -1,
        1.5,
        True,
        "",
        " x",
        "x",
        "200",
        200,
        99999,
        [],
        {},
        "2026-05-05T10:00:00Z",
        "2026-05-05T10:00:00.5+02:00",
        "2026-02-30T10:00:00Z",
        1e300,
        "success",
        "timeout",
        "manual",
    ]
    fields = [
        "event_id",
        "event_type",
        "endpoint_id",
        "attempt",
        "attempted_at",
        "status_code",
        "latency_ms",
        "outcome",
        "error",
        "trigger",
        "payload",
        "request_headers",
        "response_body",
        "replay_job_id",
    ]
    lines = []
    for i in range(3000):
        line = log_line(f"evt_{i % 50}", attempt=1 + i % 3)
        for _ in range(rng.randrange(0, 3)):
            line[rng.choice(fields)] = rng.choice(values)
        lines.append(orjson.dumps(line))
    return lines


def _slow(raw: bytes) -> object:
    try:
        return parse_line(orjson.loads(raw))
    except (LineError, orjson.JSONDecodeError) as exc:
        return type(exc)


def test_fast_path_never_accepts_what_the_slow_path_refuses() -> None:
    rng = random.Random(42)
    lines = _mutations(rng) + [bad for _, bad, _ in BAD_LINES]
    accepted_fast = 0
    for raw in lines:
        fast = fast_parse(raw)
        slow = _slow(raw)
        if fast is not None:
            accepted_fast += 1
            assert fast == slow, raw
    assert accepted_fast > 500  # the fast path does take the common case


def test_fast_path_keeps_payload_bytes_exactly() -> None:
    raw = (
        b'{"event_id":"evt_1","event_type":"t","endpoint_id":"e","attempt":1,"attempted_at":"2026-05-05T10:00:00Z",'
        b'"payload": {"event_id": "evt_1",  "amount": 12.50, "user_id": 7}}'
    )
    parsed = fast_parse(raw)
    assert parsed is not None and parsed[1] is not None
    assert parsed[1].payload == b'{"event_id": "evt_1",  "amount": 12.50, "user_id": 7}'
    assert (parsed[1].amount, parsed[1].user_id) == ("12.5", "7")


BAD_BYTES = [b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\x1b", b"\\u0000"]


def _byte_mutations(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    """Lines with a letter (in a value or a key, the payload's or the line's) replaced by bytes that are
    not UTF-8, a control byte or an escaped NUL, and lines nested deeper than decoders allow."""
    out = []
    for raw in lines[:1500]:
        letters = [i for i, c in enumerate(raw) if chr(c).isalpha()]
        i = rng.choice(letters)
        out.append(raw[:i] + rng.choice(BAD_BYTES) + raw[i + 1 :])
    for key in ("amount", "user_id", "reward_id", "currency"):
        for wide in ("18446744073709551615", "18446744073709551616", "-9223372036854775809", "1" + "0" * 30):
            payload = f'{{"{key}": {wide}, "{key}": {wide}}}'.encode()
            out.append(orjson.dumps(log_line("evt_wide", payload=...))[:-1] + b',"payload":' + payload + b"}")
    base = orjson.dumps(log_line("evt_deep"))[:-1]
    for depth in (900, 1000, 1023, 1024, 1025, 5000, 100_000):
        nested = b"[" * depth + b"]" * depth
        out.append(base.replace(b'"amount":500', b'"amount":' + nested) + b"}")
        out.append(base + b',"extra":' + nested + b"}")
    return out


def test_fast_and_slow_paths_agree_on_bytes() -> None:
    """No line makes either path raise; what the fast path accepts the slow path accepts alike; every
    payload accepted is UTF-8 JSON an export can write."""
    rng = random.Random(7)
    lines = _byte_mutations(rng, _mutations(rng))
    accepted = rejected = 0
    for raw in lines:
        fast = fast_parse(raw)
        slow = slow_parse(raw)
        assert parse_record(RawLine(1, raw)) == (fast if fast is not None else slow)
        if fast is not None:
            assert fast == slow, raw
        if isinstance(slow, str):
            rejected += 1
            continue
        accepted += 1
        if slow[1] is not None:
            orjson.loads(slow[1].payload)  # valid UTF-8 JSON
    assert accepted > 20 and rejected > 1000, (accepted, rejected)


def test_object_payload_stored_alike_whatever_the_other_fields() -> None:
    payload = b'{"event_id": "evt_1",  "amount": 12.50, "user_id": 7}'
    head = b'{"event_id":"evt_1","event_type":"t","endpoint_id":"e","attempt":1,"attempted_at":"2026-05-05T10:00:00Z"'
    plain = fast_parse(head + b',"payload": ' + payload + b"}")
    assert plain is not None and plain[1] is not None and plain[1].payload == payload
    for extra in (b',"trigger": null', b',"outcome": null', b',"x": [' + b"[" * 990 + b"]" * 990 + b"]"):
        raw = head + extra + b',"payload": ' + payload + b"}"
        for parsed in (slow_parse(raw), parse_record(RawLine(1, raw))):
            assert not isinstance(parsed, str) and parsed[1] == plain[1], (extra, parsed)


@pytest.mark.parametrize("field", ["event_id", "event_type", "endpoint_id"])
@pytest.mark.parametrize("padded", [" x", "x ", "x\t", "\u00a0x"])
def test_padded_ids_rejected_by_both_paths(field: str, padded: str) -> None:
    raw = orjson.dumps(log_line("x", payload={"a": 1}) | {field: padded})
    assert fast_parse(raw) is None
    assert slow_parse(raw) == f"{field}: must not start or end with white space, got {padded!r}"


@pytest.fixture(scope="module")
def mixed_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    log = generate(folder, events=400, days=1, seed=3, end_ms=parse_rfc3339_ms("2026-11-01T00:00:00Z")).path
    lines = log.read_bytes().splitlines()
    lines.insert(10, b"{broken")
    lines.insert(500, orjson.dumps(log_line("evt_orphan", attempt=2)))  # no payload, event unknown
    lines.insert(900, b'{"event_id": 5}')
    return write_jsonl(folder / "mixed.jsonl", lines)


def _run(
    tmp_path: Path, log: Path, name: str, parallel: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, int, int, int, list[str], list[tuple[int, str, bytes]], dict[str, dict[Any, Any]]]:
    monkeypatch.setattr(service, "PARALLEL_MIN_BYTES", 0 if parallel else 1 << 60)
    assert service.use_parallel([str(log), str(tmp_path / "missing.jsonl")]) is parallel
    store = open_store(str(tmp_path / f"{name}.db"))
    rejects: list[tuple[int, str, bytes]] = []
    sink = RejectSink(on_reject=lambda r: rejects.append((r.line, r.reason, r.raw)))
    summary = ingest_sources(store, [str(log), str(tmp_path / "missing.jsonl")], rejects=sink, batch_size=300)
    state = stored_state(store)
    assert verify_derived_state(store) == []
    store.close()
    return (
        summary.accepted,
        summary.rejected,
        summary.duplicates,
        summary.lines,
        summary.failed_sources,
        sorted(rejects),
        state,
    )


def test_parallel_ingest_matches_single_process(
    tmp_path: Path, mixed_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = _run(tmp_path, mixed_log, "one", False, monkeypatch)
    two = _run(tmp_path, mixed_log, "two", True, monkeypatch)
    assert one == two
    accepted, rejected, _, lines, failed, rejects, _ = two
    assert rejected == 3 and accepted + rejected == lines
    assert [r[0] for r in rejects] == [11, 501, 901]
    assert "payload: required on the first line" in rejects[1][1]
    assert rejects[1][2].startswith(b'{"event_id":"evt_orphan"')
    assert failed and "missing.jsonl: no such file" in failed[0]


HEADER_TEXTS = [
    b'{"content-type":"application/json","user-agent":"x/1.0","webhook-signature":"v1,a:b/c="}',
    b'{"a":"b"}',
    b'{"a":":","b":",","c":""}',
    b'{":":",",",":":"}',
    b'{"":""}',
    b"{}",
    b"null",
    b'{"a": "b"}',
    b'{ "a":"b"}',
    b'{"a":"b" ,"c":"d"}',
    b'{"a":"b","a":"c"}',
    b'{"a":"b","A":"c"}',
    b'{"Authorization":"secret","b":"c"}',
    b'{"x-API-key":"secret"}',
    b'{"b":"c","set-cookie":"secret"}',
    b'{"x-authorization":"not a credential name"}',
    '{"x-api-\u212aey":"secret"}'.encode(),  # a Kelvin sign: lower() makes it a credential name
    b'{"x-api-\\u212aey":"secret"}',
    b'{"\\u0041uthorization":"secret"}',
    b'{"a":"\\/"}',
    b'{"a":"\\u00e9"}',
    '{"a":"\u00e9"}'.encode(),
    b'{"a":"x\x7fy"}',
    b'{"a":1}',
    b'{"a":null}',
    b'{"a":"b","c":["d"]}',
    b'["a"]',
    b'"a"',
]


@pytest.mark.parametrize("headers", HEADER_TEXTS)
def test_request_headers_stored_alike_by_both_paths(headers: bytes) -> None:
    """Headers already as the store writes them are kept as found; any others are decoded and written again,
    credentials redacted; both paths store the same text, or reject the line alike."""
    raw = orjson.dumps(log_line("evt_h", attempt=2))[:-1] + b',"request_headers":' + headers + b"}"
    slow = slow_parse(raw)
    fast = fast_parse(raw)
    assert parse_record(RawLine(1, raw)) == slow
    assert fast is None or fast == slow
    if headers.startswith(b'{"a":"b"}') or headers.startswith(b'{"content-type"'):
        assert fast is not None and fast[0].request_headers == headers.decode()  # the fast path took it
    if not isinstance(slow, str) and slow[0].request_headers is not None:
        stored = orjson.loads(slow[0].request_headers)
        assert "secret" not in stored.values()


@pytest.mark.parametrize(
    "field, values",
    [
        ("attempt", [0, 1, 10_000, 10_001, -1]),
        ("status_code", [99, 100, 599, 600, 0]),
        ("latency_ms", [-0.0, 0, 0.0, 86_400_000, 86_400_000.0, 86_400_000.5, -1e-300, 1e-300]),
        (
            "event_id",
            ["e" * 200, "e" * 201, "\u00e9" * 200, "\u00e9" * 201, "\U0001f600" * 200, "\U0001f600" * 201],
        ),
        ("endpoint_id", ["p" * 200, "p" * 201]),
        ("event_type", ["t" * 200, "t" * 201]),
    ],
)
def test_bounds_decided_alike_by_both_paths(field: str, values: list[object]) -> None:
    """The bounds msgspec checks for the fast path are those the slow path names: a value inside is taken by
    the fast path, one outside is left to the slow path, which rejects it."""
    for value in values:
        raw = orjson.dumps(log_line("evt_b", attempt=2) | {field: value})
        slow = slow_parse(raw)
        fast = fast_parse(raw)
        assert parse_record(RawLine(1, raw)) == slow
        assert (fast is None) == isinstance(slow, str), (field, value)
        assert fast is None or fast == slow
        if fast is not None and field == "latency_ms":
            assert type(fast[0].latency_ms) is float
