"""A killed export leaves part files behind; the next export of the same files removes them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT, log_line, run, write_jsonl


def test_next_export_removes_the_parts_of_a_killed_one(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    lines = (
        log_line(f"evt_{i}", attempted_at=f"2026-05-0{1 + i % 5}T10:{i % 60:02d}:00Z") for i in range(12_000)
    )
    assert run("--db", str(db), "ingest", str(write_jsonl(tmp_path / "log.jsonl", lines))).exit_code == 0
    folder = tmp_path / "out"
    args = ["--db", str(db), "export", "--since", "2026-04-30T00:00:00Z", "--until", "2026-05-07T00:00:00Z"]
    export = subprocess.Popen(
        [sys.executable, "-m", "console", *args, "--out", str(folder), "--format", "csv,json"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    parts: list[Path] = []
    while not parts and export.poll() is None and time.monotonic() < deadline:
        parts = list(folder.glob(".*.part")) if folder.exists() else []
        time.sleep(0.005)
    export.send_signal(signal.SIGKILL)
    export.wait(timeout=30)
    assert parts, "the export finished before a part file could be seen"
    assert list(folder.glob(".*.part")), "a killed export leaves its part file"
    result = run(*args, "--out", str(folder), "--format", "csv,json")
    assert result.exit_code == 0, result.stderr
    assert not list(folder.glob(".*.part"))
    assert len((folder / "attempts.csv").read_text().splitlines()) == 12_001
