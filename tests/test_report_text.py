"""What the report and the exports render as text: no control or bidi characters, no "nan nan" amounts."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import orjson

from console.report.text import amount_text, printable
from console.store import Store
from tests.helpers import log_line, run, write_jsonl

# C0 controls except tab/newline/CR, DEL, C1 controls, bidi marks and overrides.
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def test_printable_and_amount_text() -> None:
    assert printable("a\x00b\x1b[31mc\x07d\x7fe\x85f\x9bg\u202eh\tline\nnext\r") == (
        "a\u2400b\u241b[31mc\u2407d\u2421e\ufffdf\ufffdg\ufffdh\tline\nnext\r"
    )
    assert amount_text(float("nan"), float("nan")) == "" and amount_text(None, None) == ""
    assert amount_text(500.0, "INR") == "500 INR" and amount_text(12.5, None) == "12.5"
    assert amount_text(float("nan"), "EUR") == "EUR"


def _without_scripts(page: str) -> str:
    return re.sub(r"<script.*?</script>", "", page, flags=re.S)


def test_report_and_exports_render_no_control_characters(store: Store, tmp_path: Path) -> None:
    nul = "\x00" if store.url.startswith("sqlite") else ""  # PostgreSQL text cannot hold NUL at all
    error = f"boom{nul}\x1b[31m red\x07 bell \x9b csi \x85 nel \u202eevil"
    no_amount = {"event": "reward.redeemed", "event_id": "evt_bare", "user_id": "user_1", "status": "success"}
    lines = [
        log_line("evt_bare", payload=no_amount, status_code=None, error=error, latency_ms=None),
        log_line(
            "evt_bare",
            attempt=2,
            status_code=None,
            error=error,
            latency_ms=None,
            attempted_at="2026-05-05T10:01:00Z",
        ),
        log_line("evt_ok"),
    ]
    log = write_jsonl(tmp_path / "log.jsonl", lines)
    assert run("--db", store.url, "ingest", str(log)).exit_code == 0
    common = ["--db", store.url, "--since", "2026-05-05T00:00:00Z", "--until", "2026-05-06T00:00:00Z"]
    report = run(*common[:2], "report", *common[2:], "--plotlyjs", "cdn", "--out", str(tmp_path / "r.html"))
    export = run(*common[:2], "export", *common[2:], "--plotlyjs", "cdn", "--out", str(tmp_path / "x"))
    assert report.exit_code == 0 and export.exit_code == 0, report.stderr + export.stderr

    for page in (tmp_path / "r.html", tmp_path / "x" / "report.html"):
        text = _without_scripts(page.read_text(encoding="utf-8"))
        assert "boom" in text and "\u241b[31m red\u2407 bell" in text
        assert not UNSAFE.search(text), repr(UNSAFE.findall(text))
        assert "nan" not in re.findall(r"<td>([^<]*)</td>", text)
        row = re.search(r"<td>evt_bare</td>(.*?)</tr>", text, flags=re.S)
        assert row is not None and "nan" not in row.group(1)

    for name in ("attempts", "deliveries"):
        raw = (tmp_path / "x" / f"{name}.csv").read_text(encoding="utf-8")
        assert not UNSAFE.search(raw) and "\u241b[31m red" in raw
        rows = list(csv.DictReader(io.StringIO(raw)))
        assert rows and all(r.get("amount") != "nan" for r in rows)
        data = orjson.loads((tmp_path / "x" / f"{name}.json").read_bytes())
        errors = [r.get("error") or r.get("last_error") for r in data if r["event_id"] == "evt_bare"]
        assert errors and all(e is not None and not UNSAFE.search(e) for e in errors)
    attempts = orjson.loads((tmp_path / "x" / "attempts.json").read_bytes())
    assert [a["payload"] for a in attempts if a["event_id"] == "evt_bare" and a["attempt"] == 1] == [
        no_amount
    ]
