"""Hostile input: bytes that are not UTF-8, nesting too deep, NUL characters, over-long lines, odd CSV cells.
One bad line is rejected with its line number and reason; every other line is stored, on both stores, by the
one-process path, the parsing process and `--follow` alike."""

from __future__ import annotations

import csv
import gzip
import io
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import orjson
import pytest

from console.ingest import ingestor, service
from console.ingest.follow import _Tail, follow
from console.ingest.log_files import RawLine, iter_jsonl, open_binary
from console.ingest.service import RejectSink
from console.store import Store
from console.store.recount import verify_derived_state
from tests.helpers import ROOT, log_line, run, table_count, write_jsonl

CSV_COLUMNS = ["event_id", "event_type", "endpoint_id", "attempt", "attempted_at", "status_code", "error"]


def _ingest(url: str, log: Path, *options: str) -> tuple[dict[str, int], dict[int, str]]:
    """Run `ingest --json --rejects`: the summary, and each rejected line's reason by line number."""
    rejects = log.with_name(log.name + ".rejects")
    result = run("--db", url, "ingest", str(log), "--rejects", str(rejects), "--json", *options)
    assert result.exit_code == 0, result.stderr
    reasons = {e["line"]: e["reason"] for e in map(orjson.loads, rejects.read_bytes().splitlines())}
    return orjson.loads(result.stdout), reasons


def _csv_row(event_id: str, attempt: str = "1", status: str = "200", error: str = "") -> list[str]:
    return [event_id, "reward.redeemed", "ep_a", attempt, "2026-05-05T10:00:00Z", status, error]


def _write_csv(path: Path, rows: list[list[str]], head: bytes = b"") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, "payload"])
    for row in rows:
        writer.writerow([*row, '{"amount": 1}' if row[3] == "1" else ""])
    data = head + out.getvalue().encode()
    path.write_bytes(data)
    return data


def test_csv_bad_byte_rejects_its_row_only(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "big.csv"
    data = _write_csv(log, [_csv_row(f"evt_{i}", error="reset" if i == 1499 else "") for i in range(3000)])
    log.write_bytes(data.replace(b"reset", b"re\xffset"))  # row 1,500: line 1,501 (the header is line 1)
    summary, reasons = _ingest(store.url, log)
    assert (summary["accepted"], summary["rejected"]) == (2999, 1)
    assert reasons == {1501: "error: not valid UTF-8 (byte 0xff)"}
    assert table_count(store, "delivery_attempt") == 2999
    assert verify_derived_state(store) == []


def test_csv_with_byte_order_mark_and_odd_digits(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "excel.csv"
    rows = [
        _csv_row("evt_1"),
        _csv_row("evt_2", attempt="²"),
        _csv_row("evt_3", status="²"),
        _csv_row("evt_4", attempt="+-1"),
        _csv_row("evt_5", attempt="\u0661"),
        _csv_row("evt_6"),
    ]
    _write_csv(log, rows, head=b"\xef\xbb\xbf")
    summary, reasons = _ingest(store.url, log)
    assert (summary["accepted"], summary["rejected"]) == (2, 4)
    assert reasons == {
        3: "attempt: must be an integer >= 1, got '²'",
        4: "status_code: must be an HTTP status 100-599 or null, got '²'",
        5: "attempt: must be an integer >= 1, got '+-1'",
        6: "attempt: must be an integer >= 1, got '\u0661'",
    }
    assert table_count(store, "delivery_attempt") == 2


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _hostile_json_lines() -> tuple[list[bytes], dict[int, str]]:
    """Valid lines with bad ones between them, and the reason expected for each bad line's number."""
    good = [orjson.dumps(log_line(f"evt_{i}")) for i in range(6)]
    line = orjson.dumps(log_line("evt_bad"))[:-1]
    bad = [
        (line + b',"error":"re\xffset"}', "not valid UTF-8 (byte 0xff at column"),
        (line.replace(b'"user_678"', b'"user_\xc3("') + b"}", "not valid UTF-8 (byte 0xc3 at column"),
        (line + b',"note":"\x80"}', "not valid UTF-8 (byte 0x80 at column"),
        (line.replace(b'"amount":500', b'"amount":' + _deep(100_000)) + b"}", "depth limit exceeded"),
        (line + b',"note":' + _deep(100_000) + b"}", "depth limit exceeded"),
    ]
    lines = [good[0]]
    expected = {}
    for i, (raw, reason) in enumerate(bad):
        lines.append(raw)
        expected[len(lines)] = reason
        lines.append(good[i + 1])
    return lines, expected


def _check_rejects(reasons: dict[int, str], expected: dict[int, str]) -> None:
    assert sorted(reasons) == sorted(expected)
    for number, fragment in expected.items():
        assert fragment in reasons[number], (number, reasons[number])


@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "parser-process"])
def test_json_line_that_breaks_the_decoder_is_rejected_and_ingest_goes_on(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    monkeypatch.delenv("HOOKCONSOLE_INGEST_PROCESSES", raising=False)
    monkeypatch.setattr(service, "PARALLEL_MIN_BYTES", 0 if parallel else 1 << 60)
    lines, expected = _hostile_json_lines()
    log = write_jsonl(tmp_path / "hostile.jsonl", lines)
    assert service.use_parallel([str(log)]) is parallel
    summary, reasons = _ingest(store.url, log)
    _check_rejects(reasons, expected)
    assert (summary["accepted"], summary["rejected"]) == (6, 5)
    assert table_count(store, "delivery_attempt") == 6


def test_follow_gets_past_a_line_that_breaks_the_decoder(store: Store, tmp_path: Path) -> None:
    lines, expected = _hostile_json_lines()
    log = write_jsonl(tmp_path / "live.jsonl", lines)
    seen: dict[int, str] = {}
    stop = threading.Event()
    results = []
    sink = RejectSink(on_reject=lambda r: seen.__setitem__(r.line, r.reason))
    worker = threading.Thread(
        target=lambda: results.append(follow(store, str(log), stop, rejects=sink, poll_s=0.05, flush_s=0.1))
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while table_count(store, "delivery_attempt") < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert results and (results[0].accepted, results[0].rejected) == (6, 5)
    _check_rejects(seen, expected)


def test_nul_in_text_fields_stored_alike_on_both_stores(store: Store, tmp_path: Path) -> None:
    first = log_line("evt_1", error="reset\u0000by peer", response_body="bo\u0000dy", status_code=None)
    first["payload"].update(user_id="us\u0000er", currency="IN\u0000R", amount="5\u00000")
    second = log_line("evt_2", replay_job_id="job\u0000", trigger="manual")
    log = write_jsonl(tmp_path / "nul.jsonl", [first, second])
    summary, reasons = _ingest(store.url, log)
    assert reasons == {} and summary["accepted"] == 2
    with store.read() as conn:
        error, excerpt = conn.exec_driver_sql(
            "SELECT error, response_excerpt FROM delivery_attempt WHERE event_id = 'evt_1'"
        ).one()
        user, currency, amount, payload = conn.exec_driver_sql(
            "SELECT user_id, currency, amount, payload FROM event WHERE event_id = 'evt_1'"
        ).one()
        (job,) = conn.exec_driver_sql(
            "SELECT replay_job_id FROM delivery_attempt WHERE event_id = 'evt_2'"
        ).one()
        (last_error,) = conn.exec_driver_sql("SELECT last_error FROM delivery WHERE event_id = 'evt_1'").one()
    assert (error, excerpt, last_error) == ("reset\ufffdby peer", "bo\ufffddy", "reset\ufffdby peer")
    assert (user, currency, amount, job) == ("us\ufffder", "IN\ufffdR", "5\ufffd0", "job\ufffd")
    assert bytes(payload) == orjson.dumps(first["payload"])  # the payload's bytes stay exact
    assert b"\\u0000" in bytes(payload)
    assert verify_derived_state(store) == []


def _long_line(size: int) -> bytes:
    return orjson.dumps(log_line("evt_long", response_body="x" * size))


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_over_long_line_rejected_with_its_number(store: Store, tmp_path: Path, compressed: bool) -> None:
    lines = [orjson.dumps(log_line("evt_1")), _long_line(5000), orjson.dumps(log_line("evt_2"))]
    data = b"\n".join(lines) + b"\n"
    log = tmp_path / ("long.jsonl.gz" if compressed else "long.jsonl")
    log.write_bytes(gzip.compress(data) if compressed else data)
    summary, reasons = _ingest(store.url, log, "--max-line-bytes", "1000")
    assert (summary["accepted"], summary["rejected"]) == (2, 1)
    assert reasons == {2: "line longer than 1,000 bytes (the maximum line length, --max-line-bytes)"}
    assert table_count(store, "delivery_attempt") == 2


def test_line_at_the_limit_is_read(tmp_path: Path) -> None:
    raw = _long_line(100)
    log = tmp_path / "edge.jsonl"
    log.write_bytes(raw + b"\n" + raw)  # the last line has no newline
    with open_binary(str(log)) as stream:
        records = list(iter_jsonl(stream, max_line_bytes=len(raw)))
    assert [(r.number, r.error) for r in records] == [(1, None), (2, None)]
    with open_binary(str(log)) as stream:
        records = list(iter_jsonl(stream, max_line_bytes=len(raw) - 1))
    assert [r.number for r in records if r.error] == [1, 2]


def test_csv_over_long_line_rejected(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "long.csv"
    _write_csv(log, [_csv_row("evt_1"), _csv_row("evt_2", error="x" * 5000), _csv_row("evt_3")])
    summary, reasons = _ingest(store.url, log, "--max-line-bytes", "1000")
    assert (summary["accepted"], summary["rejected"]) == (2, 1)
    assert reasons == {3: "line longer than 1,000 bytes (the maximum line length, --max-line-bytes)"}


def test_gzip_bomb_line_read_in_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as out:
        out.write(orjson.dumps(log_line("evt_1")) + b"\n")
        chunk = b"x" * (1 << 20)
        for _ in range(48):  # one 48 MiB line
            out.write(chunk)
        out.write(b"\n" + orjson.dumps(log_line("evt_2")) + b"\n")
    tracemalloc.start()
    try:
        with open_binary(str(bomb)) as stream:
            records = [(r.number, r.error is not None, len(r.raw)) for r in iter_jsonl(stream, 1 << 20)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r[:2] for r in records] == [(1, False), (2, True), (3, False)]
    assert records[1][2] <= 1024  # the reject keeps only the start of the line
    assert peak < 8 << 20, peak


def test_follow_rejects_a_growing_line_past_the_limit_in_bounded_memory(tmp_path: Path) -> None:
    log = tmp_path / "live.jsonl"
    log.write_bytes(orjson.dumps(log_line("evt_1")) + b"\n")
    tail = _Tail(str(log), max_line_bytes=100_000)
    records = []
    try:
        with log.open("ab") as out:
            for _ in range(40):  # 2.6 MB without a newline, written piece by piece
                out.write(b"y" * 65_536)
                out.flush()
                while tail.offset < log.stat().st_size:
                    records += tail.read_lines()
                assert tail.partial_size <= 100_000
            out.write(b"\n" + orjson.dumps(log_line("evt_2")) + b"\n")
        while tail.offset < log.stat().st_size:
            records += tail.read_lines()
    finally:
        tail.close()
    assert [(r.number, r.error) for r in records] == [
        (1, None),
        (2, "line longer than 100,000 bytes (the maximum line length, --max-line-bytes)"),
        (3, None),
    ]
    assert len(records[1].raw) <= 1024
    assert tail.partial_size == 0 and not tail.skipping


PARENT_SCRIPT = """
import sys
from console.ingest import service
from console.store import open_store

service.PARALLEL_MIN_BYTES = 0
service.ingest_sources(open_store(sys.argv[1]), [sys.argv[2]], batch_size=10)
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the parser process")
def test_parser_process_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    """The parser is busy reading (a source that keeps coming), not waiting on its queue, when the parent dies."""
    source = tmp_path / "stream.jsonl"
    os.mkfifo(source)
    writer = os.open(source, os.O_RDWR)  # keeps the pipe open: the parser never sees its end
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_SCRIPT, str(tmp_path / "store.db"), str(source)],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)])),
        },
    )
    parser = None
    try:
        os.write(writer, b"".join(orjson.dumps(log_line(f"evt_{i}")) + b"\n" for i in range(50)))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and parser is None:
            children = _children(parent.pid)
            parser = children[0] if children else None
            time.sleep(0.05)
        assert parser is not None and parent.poll() is None, "no parsing process started"
        time.sleep(0.5)  # the parser is now blocked reading the pipe
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _running(parser) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(parser), "the parser outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        if parser is not None and _running(parser):
            os.kill(parser, signal.SIGKILL)
        os.close(writer)


def test_csv_with_old_mac_line_ends_still_read(sqlite_store: Store, tmp_path: Path) -> None:
    """CSV is now read line by line as bytes; lines ended by a lone \\r still count as lines."""
    log = tmp_path / "mac.csv"
    data = _write_csv(log, [_csv_row("evt_1"), _csv_row("evt_2", attempt="0"), _csv_row("evt_3")])
    log.write_bytes(data.replace(b"\n", b"\r"))
    summary, reasons = _ingest(sqlite_store.url, log)
    assert (summary["accepted"], summary["rejected"]) == (2, 1)
    assert reasons == {3: "attempt: must be an integer >= 1, got 0"}


def test_any_failure_parsing_one_line_rejects_that_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault no real line is known to cause yet (here injected) still rejects one line, never the ingest."""

    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    good = orjson.dumps(log_line("evt_1"))
    monkeypatch.setattr(ingestor, "fast_parse", broken)
    parsed = ingestor.parse_record(RawLine(1, good))
    assert not isinstance(parsed, str)  # the slow path took over
    monkeypatch.setattr(ingestor, "parse_line", broken)
    assert ingestor.parse_record(RawLine(1, good)) == "cannot be read (RuntimeError: boom)"
    assert ingestor.parse_record(RawLine(2, b"", {"event_id": "x"})) == "cannot be read (RuntimeError: boom)"


def test_json_lines_with_a_byte_order_mark_lose_nothing(store: Store, tmp_path: Path) -> None:
    """A UTF-8 byte-order mark before the first line (Notepad, PowerShell's Out-File) is dropped: by file name,
    by content on stdin (format detection looks past it), gzipped, and when followed."""
    lines = [orjson.dumps(log_line(f"evt_{i}")) for i in range(3)]
    data = b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n"
    log = tmp_path / "notepad.jsonl"
    log.write_bytes(data)
    summary, reasons = _ingest(store.url, log)
    assert (summary["accepted"], summary["rejected"], reasons) == (3, 0, {})
    (tmp_path / "notepad.jsonl.gz").write_bytes(gzip.compress(data))
    summary, reasons = _ingest(store.url, tmp_path / "notepad.jsonl.gz")
    assert (summary["accepted"], summary["duplicates"], summary["rejected"]) == (0, 3, 0)
    result = run("--db", store.url, "ingest", "-", "--json", stdin=data)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["duplicates"] == 3
    tail = _Tail(str(log))
    try:
        assert [r.raw.rstrip(b"\n") for r in tail.read_lines()] == lines
    finally:
        tail.close()
    assert table_count(store, "delivery_attempt") == 3
