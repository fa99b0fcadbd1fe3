"""Names from outside (file names, endpoint ids, rule names) holding bytes that are not UTF-8, newlines or
terminal escape codes: every log line stays one valid line, the followers keep reading and `/metrics` answers."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from console.watch.logs import Log
from tests.helpers import log_line, run, stored_attempts, write_jsonl
from tests.test_watch_live import watching
from tests.watch_support import alerts_toml, append, free_port, receiving, traffic, wait_for

FORGED = "\n2026-01-01T00:00:00.000Z error   FAKE firing\x1b[2J\r"
TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z (info|warning|error) +\S")


def test_a_text_log_line_stays_one_line_whatever_the_names_hold() -> None:
    out = io.StringIO()
    log = Log(out)
    log.warning("alert_firing", f"ep{FORGED}: rule{FORGED} is firing", rule=f"r{FORGED}")
    log.error("source_error", "/logs/log\udcff\u2028.jsonl: gone (retrying)")
    lines = out.getvalue().splitlines(keepends=True)
    assert len(lines) == 2 and all(TEXT_LINE.match(line) for line in lines), lines
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
    assert "ep\\n2026-01-01T00:00:00.000Z error   FAKE firing\\x1b[2J\\r: rule\\n" in lines[0]
    assert lines[1].endswith("/logs/log\\xff\\u2028.jsonl: gone (retrying)\n")


def test_a_json_log_line_is_valid_utf8_whatever_the_names_hold() -> None:
    out = io.StringIO()
    Log(out, json_lines=True).warning(
        "line_rejected", "rejected log\udcff.jsonl:2: bad", source="log\udcff.jsonl"
    )
    [line] = out.getvalue().splitlines()
    entry = orjson.loads(line)
    assert entry["message"] == "rejected log\\xff.jsonl:2: bad" and entry["source"] == "log\\xff.jsonl"


def _lag_labels(port: int) -> list[str]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return [
        sample.labels["source"]
        for family in text_string_to_metric_families(response.text)
        if family.name == "hookconsole_source_last_success_timestamp_seconds"
        for sample in family.samples
    ]


def test_watch_follows_a_file_whose_name_is_not_utf8(tmp_path: Path) -> None:
    name = os.fsdecode(os.fsencode(tmp_path) + b"/log\xff.jsonl")
    Path(name).write_bytes(b"".join(traffic("ep_a", 3, 200)) + b'{"event_id": "evt_x"}\n')
    db = tmp_path / "store.db"
    port = free_port()
    with watching(tmp_path, str(db), "--json-logs", "--metrics-port", str(port), name) as process:
        assert wait_for(lambda: stored_attempts(db) == 3), process.stderr
        assert wait_for(lambda: "line_rejected" in process.stderr), process.stderr
        append(Path(name), traffic("ep_a", 2, 200))
        assert wait_for(lambda: stored_attempts(db) == 5), process.stderr
        shown = f"{tmp_path}/log\\xff.jsonl"
        assert _lag_labels(port) == [shown]
        process.stop()
    entries = [orjson.loads(line) for line in process.lines]
    rejected = [e for e in entries if e["event"] == "line_rejected"]
    assert [(e["source"], e["message"].split(": ")[0]) for e in rejected] == [(shown, f"rejected {shown}:4")]
    assert not [e for e in entries if e["level"] == "error"], entries


def test_ingest_of_a_file_whose_name_is_not_utf8(tmp_path: Path) -> None:
    name = os.fsdecode(os.fsencode(tmp_path) + b"/in\xff.jsonl")
    write_jsonl(Path(name), [log_line("evt_1"), b'{"event_id": "evt_2"}'])
    rejects = tmp_path / "rejects.jsonl"
    db = str(tmp_path / "store.db")
    result = run("--db", db, "ingest", "--json", "--rejects", str(rejects), name)
    assert result.exit_code == 0, result.stderr
    shown = f"{tmp_path}/in\\xff.jsonl"
    summary = orjson.loads(result.stdout)
    assert summary["sources"] == [shown] and (summary["accepted"], summary["rejected"]) == (1, 1)
    [reject] = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert (reject["source"], reject["line"]) == (shown, 2)
    missing = run("--db", db, "ingest", name + "x")
    assert missing.exit_code == 1 and missing.stderr == f"hookconsole: {shown}x: no such file\n"


def test_watch_text_log_cannot_be_forged_by_names(tmp_path: Path) -> None:
    log = tmp_path / f"live{FORGED}.jsonl"
    log.write_bytes(b"".join(traffic("ep_down", 8, 503)) + b'{"event_id": "evt_x"}\n')
    rule = orjson.dumps(f"down{FORGED}").decode()  # a TOML basic string is a JSON string here
    db = tmp_path / "store.db"
    with receiving() as receiver:
        rules = alerts_toml(receiver.url).replace('name = "endpoint-down"', f"name = {rule}")
        (tmp_path / "alerts.toml").write_text(rules)
        with watching(tmp_path, str(db), str(log)) as process:
            assert wait_for(lambda: len(receiver.bodies()) == 1), process.stderr
            assert wait_for(lambda: "ep_down: down" in process.stderr and "rejected" in process.stderr)
            process.stop()
    assert [b["rule"] for b in receiver.bodies()] == [f"down{FORGED}"]  # the notification keeps the name
    assert all(TEXT_LINE.match(line) for line in process.lines), process.lines
    assert "\x1b" not in process.stderr and "\r" not in process.stderr
    firing = [line for line in process.lines if "ep_down: down" in line]
    assert (
        len(firing) == 1
        and "ep_down: down\\n2026-01-01T00:00:00.000Z error   FAKE firing\\x1b[2J\\r" in firing[0]
    )
    [rejected] = [line for line in process.lines if "rejected" in line]
    assert f"live{FORGED}.jsonl:9: event_type".encode("unicode_escape").decode() in rejected
