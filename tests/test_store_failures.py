"""Store failures say so in one line naming the store: disk full, corrupt file, lost connection, bad URL, bad
schema version; reading commands never create a store and can read one on read-only media."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

import console.store.engine as engine_module
from console.store import StoreError, open_store
from tests.conftest import PG_URL, _libpq_url, require_postgres
from tests.helpers import ROOT, log_line, run, run_process, write_jsonl


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "[SQL:" not in stderr and "sqlalchemy" not in stderr.lower()
    return lines[0]


def _log(tmp_path: Path, events: int) -> Path:
    return write_jsonl(
        tmp_path / "log.jsonl",
        (log_line(f"evt_{i}", response_body="x" * 400, error=None) for i in range(events)),
    )


def test_disk_full_is_one_line_naming_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLite's max_page_count makes the file "full" exactly as a full disk does (SQLITE_FULL).
    make_engine = engine_module._sqlite_engine

    def small_engine(url: str, *args: bool) -> Engine:
        engine = make_engine(url, *args)

        @event.listens_for(engine, "connect")
        def _limit(dbapi_connection: object, _record: object) -> None:
            dbapi_connection.execute("PRAGMA max_page_count = 80")  # type: ignore[attr-defined]

        return engine

    monkeypatch.setattr(engine_module, "_sqlite_engine", small_engine)
    db = tmp_path / "full.db"
    result = run("--db", str(db), "ingest", str(_log(tmp_path, 3000)))
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    assert line.startswith(f"hookconsole: store sqlite:///{db}: ")
    assert "disk is full" in line


def test_corrupt_sqlite_file_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(b"this is not a database, just some bytes\x00\x01" * 200)
    for args in (
        ["stats"],
        ["ingest", str(_log(tmp_path, 2))],
        ["report", "--out", str(tmp_path / "r.html")],
    ):
        result = run("--db", str(db), *args)
        assert result.exit_code == 1, args
        line = _one_line(result.stderr)
        assert line.startswith(f"hookconsole: cannot open store sqlite:///{db}: ")
        assert "not a SQLite database" in line


@pytest.mark.parametrize("command", ["stats", "ingest", "tui"])
def test_non_numeric_port_is_one_line(tmp_path: Path, command: str) -> None:
    result = run(
        "--db",
        "postgresql://alice:pw-123@127.0.0.1:fivefourthree/x",
        command,
        *(["-"] if command == "ingest" else []),
    )
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    assert "port is not a number" in line and "pw-123" not in line and "alice:***@" in line


def test_bad_schema_version_value_is_one_line(store_url: str) -> None:
    open_store(store_url).close()
    store = open_store(store_url)
    with store.write() as conn:
        conn.exec_driver_sql("UPDATE meta SET value = 'two' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(StoreError, match="schema version in table meta is 'two', not a number"):
        open_store(store_url)
    for command in ("stats", "ingest"):
        result = run("--db", store_url, command, *(["-"] if command == "ingest" else []), stdin="")
        assert result.exit_code == 1
        assert "'two', not a number" in _one_line(result.stderr)


def test_reading_commands_never_create_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["stats"], ["report"], ["export", "--out", "out"], ["stats", "--db", "other.db"]):
        result = run(*args)
        assert result.exit_code == 1, args
        name = "other.db" if "other.db" in args else "hookconsole.db"
        assert _one_line(result.stderr) == f"hookconsole: no store at {name}; ingest first or pass --db"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_reading_an_empty_store_says_ingest_first(store_url: str) -> None:
    result = run("--db", store_url, "stats")
    assert result.exit_code == 1
    assert "; ingest first or pass --db" in _one_line(result.stderr)
    result = run("--db", store_url, "ingest", "-", stdin="")
    assert result.exit_code == 0
    assert run("--db", store_url, "stats").exit_code == 0


def test_reading_commands_do_not_write_the_store(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    assert run("--db", str(db), "ingest", str(_log(tmp_path, 20))).exit_code == 0
    before = db.read_bytes()
    for args in (
        ["stats"],
        ["report", "--out", str(tmp_path / "r.html")],
        ["export", "--out", str(tmp_path / "x")],
    ):
        assert run("--db", str(db), *args).exit_code == 0, args
    assert db.read_bytes() == before


def _read_only_copy(tmp_path: Path, db: Path) -> tuple[list[str], Path]:
    """A command prefix that sees `db` on a read-only file system (a read-only bind mount in a private mount
    namespace when we are root, a folder without write permission otherwise), and the path to use there."""
    source = tmp_path / "media"
    source.mkdir()
    shutil.copy(db, source / "store.db")
    if os.geteuid() == 0:
        mount = tmp_path / "ro"
        mount.mkdir()
        script = f'mount --bind "{source}" "{mount}" && mount -o remount,bind,ro "{mount}" && exec "$@"'
        return ["unshare", "-m", "sh", "-c", script, "sh"], mount / "store.db"
    source.chmod(0o555)
    (source / "store.db").chmod(0o444)
    return [], source / "store.db"


def test_store_on_read_only_media_can_be_read(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    assert run("--db", str(db), "ingest", str(_log(tmp_path, 30))).exit_code == 0
    prefix, ro_db = _read_only_copy(tmp_path, db)
    endpoints = ROOT / "sample_data" / "endpoints.toml"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (
        ["stats", "--json"],
        ["report", "--out", str(tmp_path / "r.html")],
        ["export", "--out", str(tmp_path / "x"), "--format", "csv"],
        ["replay", "list"],
    ):
        done = subprocess.run(
            [
                *prefix,
                sys.executable,
                "-m",
                "console",
                "--db",
                str(ro_db),
                "--endpoints",
                str(endpoints),
                *args,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, (args, done.stderr)
    assert (tmp_path / "r.html").stat().st_size > 0
    assert len((tmp_path / "x" / "attempts.csv").read_text().splitlines()) == 31


def test_postgres_connection_cut_mid_ingest_is_one_line(pg_schema_url: str, tmp_path: Path) -> None:
    require_postgres()
    import psycopg

    app = f"hc_cut_{uuid.uuid4().hex[:8]}"
    url = f"{pg_schema_url}&application_name={app}"
    log = _log(tmp_path, 60_000)
    open_store(pg_schema_url).close()  # the schema exists: the cut lands in the middle of writing lines
    process = subprocess.Popen(
        [sys.executable, "-m", "console", "--db", url, "ingest", str(log), "--batch-size", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    killed = 0
    deadline = time.monotonic() + 60
    with psycopg.connect(_libpq_url(PG_URL), autocommit=True) as conn:
        while not killed and process.poll() is None and time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND state <> 'idle' "
                "AND (query ILIKE '%%insert%%' OR query ILIKE '%%copy%%' OR query ILIKE '%%update%%')",
                (app,),
            ).fetchone()
            killed = row[0] if row else 0
            time.sleep(0.01)
    _out, err = process.communicate(timeout=60)
    assert killed >= 1, "the ingest ended before its connection could be cut"
    assert process.returncode == 1
    line = _one_line(err)
    assert line.startswith("hookconsole: store postgresql+psycopg://")
    assert "connection" in line and "PendingRollbackError" not in line and "Can't reconnect" not in line


def test_cli_store_errors_never_show_query_passwords(tmp_path: Path) -> None:
    url = "postgresql://bob@127.0.0.1:1/x?password=hunter2&connect_timeout=2&sslpassword=also-secret"
    result = run_process("--db", url, "stats", cwd=tmp_path)
    assert result.returncode == 1
    assert "hunter2" not in result.stderr + result.stdout and "also-secret" not in result.stderr
    assert "password=***" in _one_line(result.stderr)


def test_unexpected_errors_never_show_the_store_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from console.cli import _without_credentials

    monkeypatch.setattr(
        sys, "argv", ["hookconsole", "--db", "postgresql://u:pw-one@h/x?token=tok-two", "stats"]
    )
    text = _without_credentials("failed: pw-one tok-two pw-three", "postgresql://u:pw-three@h/x")
    assert text == "failed: *** *** ***"


def test_store_corrupt_in_the_middle_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    log = _log(tmp_path, 3000)
    assert run("--db", str(db), "ingest", str(log)).exit_code == 0
    size = db.stat().st_size
    with db.open("r+b") as file:  # a damaged stretch in the middle: the header still says SQLite
        file.seek(size // 3)
        file.write(b"\xa5" * (size // 3))
    result = run("--db", str(db), "ingest", str(log))
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    assert line.startswith(f"hookconsole: store sqlite:///{db}: ") and "corrupt" in line
