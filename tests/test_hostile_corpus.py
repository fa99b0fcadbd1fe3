"""A hostile corpus: every kind of bad line known, between valid lines, in JSON Lines and CSV. On both stores
and by both ingest paths (one process; parser process and writer), every valid line is kept, every bad one
is rejected with its source, line number and reason, and `stats --json` equals a count made here."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.ingest import service
from console.store import Store
from console.store.recount import verify_derived_state
from tests.helpers import log_line, run
from tests.test_ingest_bad_lines import BAD_LINES

MAX_LINE = 300_000
LONG = f"line longer than {MAX_LINE:,} bytes"
ENDPOINTS = ("ep_a", "ep_b", "ep_c")
# (status_code, outcome given in the line, error): the outcome each valid line is expected to have.
SHAPES: list[tuple[int | None, str, str | None]] = [
    (200, "success", None),
    (503, "http_error", "upstream\u0000down"),
    (None, "timeout", "timed out after 10 s"),
    (None, "network_error", "connection\u0000refused"),
    (201, "success", "d\u00e9j\u00e0 vu \u2603"),
]


class Corpus:
    """The lines written and what is expected of them."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.bad: dict[int, str] = {}  # line number -> a fragment of the reason
        self.valid: list[dict[str, Any]] = []  # the lines expected to be stored

    def good(self, line: dict[str, Any], raw: bytes | None = None) -> None:
        self.lines.append(raw if raw is not None else orjson.dumps(line))
        self.valid.append(line)

    def reject(self, raw: bytes, reason: str) -> None:
        self.lines.append(raw)
        self.bad[len(self.lines)] = reason

    def blank(self) -> None:
        self.lines.append(b"   ")


def _valid(n: int, attempt: int = 1) -> dict[str, Any]:
    status, outcome, error = SHAPES[(n + attempt) % len(SHAPES)]
    line = log_line(
        f"evt_{n}",
        endpoint_id=ENDPOINTS[n % 3],
        attempt=attempt,
        attempted_at=f"2026-05-05T1{attempt}:{n % 60:02d}:00Z",
        status_code=status,
        outcome=outcome,
        error=error,
    )
    return {k: v for k, v in line.items() if v is not None}


def _hostile_jsonl() -> Corpus:
    corpus = Corpus()
    base = orjson.dumps(log_line("evt_hostile"))[:-1]
    nested = b"[" * 100_000 + b"]" * 100_000
    hostile: list[tuple[bytes, str]] = [(bad, fragment) for _, bad, fragment in BAD_LINES]
    hostile += [
        (base + b',"error":"re\xffset"}', "not valid UTF-8 (byte 0xff at column"),
        (base.replace(b"user_678", b"user_\xc3(78") + b"}", "not valid UTF-8 (byte 0xc3 at column"),
        (base + b',"note\xed\xa0\x80":1}', "not valid UTF-8 (byte 0xed at column"),
        (base.replace(b'"amount":500', b'"amount":' + nested) + b"}", "depth limit exceeded"),
        (base + b',"extra":' + nested + b"}", "depth limit exceeded"),
        (base + b',"extra":' + b"[" * 1025 + b"]" * 1025 + b"}", "depth limit exceeded"),
        (base + b',"error":"a\x00b"}', "unexpected control character"),
        (base + b',"error":"\\ud800"}', "not valid JSON"),
        (base.replace(b'"evt_hostile"', b'" evt_hostile"', 1) + b"}", "event_id: must not start or end"),
        (base.replace(b'"ep_a"', b'"ep_a\\t"') + b"}", "endpoint_id: must not start or end"),
        (orjson.dumps(log_line("evt_hostile", attempted_at="0001-01-01T00:00:00Z")), "outside the supported"),
        (orjson.dumps(log_line("evt_hostile", attempted_at="2100-01-01T00:00:00Z")), "outside the supported"),
        (orjson.dumps(log_line("evt_hostile", payload="{not json")), "payload: is not valid JSON"),
        (orjson.dumps(log_line("evt_hostile", response_body="x" * MAX_LINE)), LONG),
        (orjson.dumps(log_line("evt_orphan", attempt=2)), "payload: required on the first line"),
    ]
    for n, (raw, reason) in enumerate(hostile):
        corpus.good(_valid(n))
        corpus.reject(raw, reason)
        if n % 5 == 0:
            corpus.blank()
    first = len(hostile)
    # Valid lines that take the slow path or carry odd but legal content.
    line = _valid(first)
    corpus.good(line, orjson.dumps({**line, "trigger": None, "replay_job_id": None}))
    line = _valid(first + 1)
    line["payload"] = orjson.dumps(line["payload"]).decode()  # a payload given as a string
    corpus.good(line)
    line = _valid(first + 2)
    corpus.good(line, orjson.dumps({**line, "extra": [[[[[[[[[[1]]]]]]]]]], "x\u00e9": "\u0000"}))
    line = _valid(first + 3)
    corpus.good(line, orjson.dumps(line)[:-1] + b',"deep":' + b"[" * 1000 + b"]" * 1000 + b"}")
    line = _valid(first + 4)
    line["payload"] = {**line["payload"], "user_id": "u\u0000", "currency": "IN\u0000R", "amount": "1\u00002"}
    corpus.good(line)
    for n in range(first + 5):  # second attempts, some of them for events first seen above
        corpus.good(_valid(n, attempt=2))
    # A line already in this file (a duplicate, neither stored again nor rejected) and a type clash.
    corpus.lines.append(orjson.dumps(_valid(0)))
    corpus.reject(orjson.dumps(log_line("evt_1", attempt=3, event_type="other")), "event_type: 'other' does")
    corpus.lines.append(orjson.dumps(_valid(first + 9))[:50])  # the writer died mid-line
    corpus.bad[len(corpus.lines)] = "truncated line"
    return corpus


def _hostile_csv() -> tuple[bytes, list[dict[str, Any]], dict[int, str]]:
    columns = ["event_id", "event_type", "endpoint_id", "attempt", "attempted_at", "status_code"]
    columns += ["latency_ms", "error", "payload"]

    def row(n: int, **cells: str) -> list[str]:
        values = {
            "event_id": f"csv_{n}",
            "event_type": "reward.redeemed",
            "endpoint_id": "ep_a",
            "attempt": "1",
            "attempted_at": f"2026-05-06T10:{n:02d}:00Z",
            "status_code": "200",
            "latency_ms": "12.5",
            "error": "",
            "payload": '{"amount": 1}',
        }
        values.update(cells)
        return [values[c] for c in columns]

    rows = [
        (row(1), None),
        (row(2, error="re\udcffset"), "error: not valid UTF-8 (byte 0xff)"),
        (row(3, attempt="\u00b2"), "attempt: must be an integer >= 1, got '\u00b2'"),
        (row(4, status_code="\u00b2"), "status_code: must be an HTTP status 100-599 or null"),
        (row(5, latency_ms="\u0661\u0662"), "latency_ms: must be a number >= 0 or null, got a string"),
        (row(6, error="x" * MAX_LINE), LONG),
        (row(7, attempted_at="0001-01-01T00:00:00Z"), "outside the supported range"),
        (row(8, event_id=" csv_8"), "event_id: must not start or end"),
        (row(9, error="multi\nline\u0000cell"), None),
        (row(10), None),
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    bad: dict[int, str] = {}
    valid: list[dict[str, Any]] = []
    number = 2
    for cells, reason in rows:
        writer.writerow(cells)
        if reason is None:
            valid.append(dict(zip(columns, cells, strict=True)) | {"status_code": 200, "outcome": "success"})
        else:
            bad[number] = reason
        number += 1 + cells[columns.index("error")].count("\n")
    data = b"\xef\xbb\xbf" + out.getvalue().encode("utf-8", "surrogateescape")
    return data, valid, bad


def _expected_stats(valid: list[dict[str, Any]]) -> dict[str, Any]:
    """What `stats --json` must say, counted from the lines without the application's code."""
    attempts = {(v["event_id"], v["endpoint_id"], v["attempt"]): v for v in valid}
    pairs: dict[tuple[str, str], bool] = {}
    for (event_id, endpoint_id, _), v in attempts.items():
        pairs[(event_id, endpoint_id)] = (
            pairs.get((event_id, endpoint_id), False) or v["outcome"] == "success"
        )
    outcomes = Counter(v["outcome"] for v in attempts.values())
    per_endpoint = {}
    for endpoint in sorted({v["endpoint_id"] for v in attempts.values()}):
        mine = [v for v in attempts.values() if v["endpoint_id"] == endpoint]
        per_endpoint[endpoint] = (
            len(mine),
            dict(Counter(v["outcome"] for v in mine)),
            sum(1 for p in pairs if p[1] == endpoint),
            sum(1 for p, done in pairs.items() if p[1] == endpoint and done),
        )
    return {
        "attempts": len(attempts),
        "outcomes": dict(outcomes),
        "deliveries": len(pairs),
        "delivered": sum(pairs.values()),
        "endpoints": per_endpoint,
    }


def _stats_of(url: str) -> dict[str, Any]:
    result = run(
        "--db", url, "stats", "--json", "--since", "2020-01-01T00:00:00Z", "--until", "2030-01-01T00:00:00Z"
    )
    assert result.exit_code == 0, result.stderr
    stats = orjson.loads(result.stdout)

    def nonzero(outcomes: dict[str, int]) -> dict[str, int]:
        return {k: v for k, v in outcomes.items() if v}

    return {
        "attempts": stats["attempts"],
        "outcomes": nonzero(stats["outcomes"]),
        "deliveries": stats["deliveries"],
        "delivered": stats["delivered"],
        "endpoints": {
            e["id"]: (e["attempts"], nonzero(e["outcomes"]), e["deliveries"], e["delivered"])
            for e in stats["endpoints"]
        },
    }


@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "parser-process"])
def test_hostile_corpus(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    monkeypatch.delenv("HOOKCONSOLE_INGEST_PROCESSES", raising=False)
    monkeypatch.setattr(service, "PARALLEL_MIN_BYTES", 0 if parallel else 1 << 60)
    corpus = _hostile_jsonl()
    jsonl = tmp_path / "hostile.jsonl"
    jsonl.write_bytes(b"\n".join(corpus.lines))  # the last line is cut short: no newline
    csv_path = tmp_path / "hostile.csv"
    csv_data, csv_valid, csv_bad = _hostile_csv()
    csv_path.write_bytes(csv_data)
    assert service.use_parallel([str(jsonl), str(csv_path)]) is parallel

    rejects = tmp_path / "rejects.jsonl"
    result = run(
        "--db",
        store.url,
        "ingest",
        str(jsonl),
        str(csv_path),
        "--rejects",
        str(rejects),
        "--json",
        "--max-line-bytes",
        str(MAX_LINE),
    )
    assert result.exit_code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    expected_bad = {(str(jsonl), n): r for n, r in corpus.bad.items()}
    expected_bad |= {(str(csv_path), n): r for n, r in csv_bad.items()}
    found = {
        (e["source"], e["line"]): e["reason"] for e in map(orjson.loads, rejects.read_bytes().splitlines())
    }
    assert sorted(found) == sorted(expected_bad)
    for where, fragment in expected_bad.items():
        assert fragment in found[where], (where, found[where])

    valid = corpus.valid + csv_valid
    assert summary["rejected"] == len(expected_bad) > 50
    assert summary["accepted"] == len(valid)
    assert summary["duplicates"] == 1
    assert summary["lines"] == summary["accepted"] + summary["rejected"] + summary["duplicates"]
    assert _stats_of(store.url) == _expected_stats([{**v, "attempt": int(v["attempt"])} for v in valid])
    assert verify_derived_state(store) == []

    out = tmp_path / "export"
    window = ("--since", "2020-01-01T00:00:00Z", "--until", "2030-01-01T00:00:00Z")
    result = run("--db", store.url, "export", "--format", "json", "--out", str(out), "--quiet", *window)
    assert result.exit_code == 0, result.stderr
    exported = sorted(out.glob("*.json"))
    assert exported
    for path in exported:
        orjson.loads(path.read_bytes())  # strict UTF-8 JSON: every stored payload and text can be exported
