"""An output path that is an input file or a file of the store is refused with one line naming the option."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.store import Store, open_store
from tests.helpers import log_line, run, table_count, write_jsonl


def _log(tmp_path: Path, name: str = "same.jsonl") -> Path:
    return write_jsonl(tmp_path / name, [log_line(f"evt_{i}") for i in range(5)] + [b"not json"])


def _refused(result: object, option: str) -> str:
    assert result.exit_code == 1  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith(f"hookconsole: {option} "), lines
    assert "refusing to overwrite" in lines[0]
    return str(lines[0])


@pytest.mark.parametrize("alias", ["same", "relative", "symlink", "hardlink"])
def test_ingest_refuses_rejects_that_is_an_input(
    store: Store, tmp_path: Path, alias: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path)
    before = log.read_bytes()
    rejects = {
        "same": log,
        "relative": Path("sub/../same.jsonl"),
        "symlink": tmp_path / "link.jsonl",
        "hardlink": tmp_path / "hard.jsonl",
    }[alias]
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    if alias == "symlink":
        rejects.symlink_to(log)
    if alias == "hardlink":
        os.link(log, rejects)
    result = run("--db", store.url, "ingest", str(log), "--rejects", str(rejects))
    _refused(result, "--rejects")
    assert log.read_bytes() == before
    assert table_count(store, "delivery_attempt") == 0
    ok = run("--db", store.url, "ingest", str(log), "--rejects", str(tmp_path / "rejects.jsonl"))
    assert ok.exit_code == 0 and table_count(store, "delivery_attempt") == 5


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_ingest_refuses_rejects_that_is_the_store(tmp_path: Path, suffix: str) -> None:
    db = tmp_path / "store.db"
    assert run("--db", str(db), "ingest", str(_log(tmp_path))).exit_code == 0
    result = run("--db", str(db), "ingest", str(_log(tmp_path, "more.jsonl")), "--rejects", f"{db}{suffix}")
    assert "a file of the store" in _refused(result, "--rejects")
    store = open_store(str(db))
    try:
        assert table_count(store, "delivery_attempt") == 5
    finally:
        store.close()


def test_report_refuses_to_replace_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "store.db"
    assert run("--db", str(db), "ingest", str(_log(tmp_path))).exit_code == 0
    before = db.read_bytes()
    monkeypatch.chdir(tmp_path)
    for out in (str(db), "store.db", "./store.db-wal"):
        _refused(run("--db", str(db), "report", "--since", "3000d", "--out", out), "--out")
    assert db.read_bytes() == before
    assert run("--db", str(db), "stats", "--since", "3000d").exit_code == 0


def test_export_refuses_to_overwrite_the_store(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    db = folder / "attempts.json"  # an unlucky store name inside the export folder
    assert run("--db", str(db), "ingest", str(_log(tmp_path))).exit_code == 0
    before = db.read_bytes()
    result = run("--db", str(db), "export", "--since", "3000d", "--out", str(folder))
    _refused(result, "--out")
    assert db.read_bytes() == before
    as_folder = run("--db", str(db), "export", "--since", "3000d", "--out", str(db))
    assert as_folder.exit_code == 2 and "'--out'" in as_folder.stderr  # click: a file is not a folder
    ok = run("--db", str(db), "export", "--since", "3000d", "--out", str(folder), "--format", "csv,html")
    assert ok.exit_code == 0, ok.stderr
    assert db.read_bytes() == before
