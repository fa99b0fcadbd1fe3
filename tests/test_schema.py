"""The schema version: a new store is stamped, an older one is upgraded, a newer one is refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy.engine import Connection

from console.store import SCHEMA_VERSION, SchemaVersionError, StoreError, open_store, schema
from tests.helpers import log_line, run


def _version(url: str) -> int:
    store = open_store(url)
    try:
        with store.read() as conn:
            version = schema.read_version(conn)
        assert version is not None
        return version
    finally:
        store.close()


def test_new_store_is_stamped(store_url: str) -> None:
    assert _version(store_url) == SCHEMA_VERSION


def test_newer_store_is_refused(store_url: str) -> None:
    store = open_store(store_url)
    with store.write() as conn:
        conn.exec_driver_sql(f"UPDATE meta SET value = '{SCHEMA_VERSION + 5}' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(
        SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 5}, newer than this hookconsole"
    ):
        open_store(store_url)


def test_older_store_is_upgraded_step_by_step(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    open_store(store_url).close()  # a store at today's version
    applied: list[int] = []

    def add_note_column(conn: Connection) -> None:
        applied.append(SCHEMA_VERSION)
        conn.exec_driver_sql("ALTER TABLE endpoint ADD COLUMN note VARCHAR")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema.MIGRATIONS, SCHEMA_VERSION, add_note_column)
    upgraded = open_store(store_url)
    try:
        with upgraded.read() as conn:
            assert schema.read_version(conn) == SCHEMA_VERSION + 1
            conn.exec_driver_sql("SELECT note FROM endpoint").fetchall()
    finally:
        upgraded.close()
    open_store(store_url).close()  # already upgraded: nothing runs twice
    assert applied == [SCHEMA_VERSION]


def test_unopenable_stores_say_why(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"folder .* does not exist"):
        open_store(str(tmp_path / "no" / "such" / "dir" / "x.db"))
    with pytest.raises(StoreError, match="unsupported database"):
        open_store("mysql://localhost/x")
    with pytest.raises(StoreError) as info:
        open_store("postgresql+psycopg://alice:s3cret-pw@127.0.0.1:1/none?connect_timeout=2")
    assert "s3cret-pw" not in str(info.value) and "cannot open store" in str(info.value)


def test_cli_reports_store_errors_on_one_line(tmp_path: Path) -> None:
    result = run("--db", "postgresql://bob:hunter2@127.0.0.1:1/x?connect_timeout=2", "stats")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "hookconsole: cannot open store postgresql+psycopg://bob:***@127.0.0.1:1/x"
    )
    assert "hunter2" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_version_1_store_gains_the_new_tables(store_url: str) -> None:
    store = open_store(store_url)
    with store.write() as conn:  # a store as version 1 left it: without the tables version 2 added
        conn.exec_driver_sql("DROP TABLE alert_outbox")
        conn.exec_driver_sql("DROP TABLE replay_target_attempt")
        conn.exec_driver_sql("DROP TABLE replay_job")  # as version 1 made it: without who, why and where
        conn.exec_driver_sql(
            "CREATE TABLE replay_job (id VARCHAR PRIMARY KEY, created_at BIGINT NOT NULL, state VARCHAR NOT NULL, "
            "selection VARCHAR NOT NULL, force BOOLEAN NOT NULL, concurrency INTEGER NOT NULL, total INTEGER NOT NULL, "
            "started_at BIGINT, finished_at BIGINT, heartbeat_at BIGINT, runner VARCHAR, note VARCHAR)"
        )
        conn.exec_driver_sql(
            "INSERT INTO replay_job (id, created_at, state, selection, force, concurrency, total) "
            "VALUES ('rj_old', 1, 'done', 'all', FALSE, 10, 0)"
        )
        conn.exec_driver_sql("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store.close()
    # A reading command reads the version-1 store as it is: jobs without an operator.
    listed = run("--db", store_url, "replay", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [(j["id"], j["operator"], j["reason"]) for j in orjson.loads(listed.stdout)] == [
        ("rj_old", None, None)
    ]
    assert _version(store_url) == SCHEMA_VERSION == 10
    upgraded = open_store(store_url)
    try:
        with upgraded.read() as conn:
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM alert_outbox").scalar_one() == 0
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM replay_target_attempt").scalar_one() == 0
            row = conn.exec_driver_sql(
                "SELECT id, operator, reason, target_url, target_secret FROM replay_job"
            ).one()
            assert tuple(row) == ("rj_old", None, None, None, None)
    finally:
        upgraded.close()


def test_version_2_store_is_read_as_it_is_and_gains_the_endpoint_source(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    with store.write() as conn:  # as version 2 made it: endpoints without their source
        conn.exec_driver_sql("DROP TABLE endpoint")
        conn.exec_driver_sql(
            "CREATE TABLE endpoint (id VARCHAR PRIMARY KEY, name VARCHAR, url VARCHAR, scheme VARCHAR, "
            "enabled BOOLEAN NOT NULL)"
        )
        conn.exec_driver_sql("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    store.close()
    log = tmp_path / "log.jsonl"
    log.write_bytes(orjson.dumps(log_line("evt_1", "ep_a")) + b"\n")
    # A reading command reads it as it is (gap checks included), before any upgrade.
    stats = run("--db", store_url, "stats", "--since", "3000d", "--json")
    assert stats.exit_code == 0, stats.stderr
    assert _version(store_url) == SCHEMA_VERSION == 10
    assert run("--db", store_url, "ingest", str(log)).exit_code == 0
    upgraded = open_store(store_url)
    try:
        with upgraded.read() as conn:
            assert conn.exec_driver_sql("SELECT id, source FROM endpoint").all() == [("ep_a", None)]
    finally:
        upgraded.close()


def test_a_folder_given_as_the_store_is_named(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(orjson.dumps(log_line("evt_1")) + b"\n")
    for command in (["stats"], ["ingest", str(log)]):
        result = run("--db", str(tmp_path), *command)
        assert result.exit_code == 1
        assert result.stderr == (
            f"hookconsole: {tmp_path} is a folder, not a store file (give a file, e.g. {tmp_path}/hookconsole.db)\n"
        )


def _as_version_5(store_url: str) -> None:
    """A store as version 5 left it: no resolutions, the undelivered index on `delivered_at IS NULL`."""
    store = open_store(store_url)
    with store.write() as conn:
        for name in ("ix_delivery_undelivered", "ix_delivery_resolved"):
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("DROP TABLE delivery_resolution")
        for column in ("resolved_at", "resolved_by", "resolved_reason"):
            conn.exec_driver_sql(f"ALTER TABLE delivery DROP COLUMN {column}")
        conn.exec_driver_sql(
            "CREATE INDEX ix_delivery_undelivered ON delivery (first_attempt_at) WHERE delivered_at IS NULL"
        )
        conn.exec_driver_sql("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    store.close()


def test_version_5_store_is_read_as_it_is_and_gains_resolutions(store_url: str, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(orjson.dumps(log_line("evt_1", "ep_a", status_code=500)) + b"\n")
    open_store(store_url).close()
    assert run("--db", store_url, "ingest", str(log)).exit_code == 0
    _as_version_5(store_url)
    # A reading command reads it as it is: one undelivered, none resolved.
    stats = run("--db", store_url, "stats", "--json")
    assert stats.exit_code == 0, stats.stderr
    figures = orjson.loads(stats.stdout)
    assert (figures["undelivered"], figures["resolved"]) == (1, 0)
    assert _version(store_url) == SCHEMA_VERSION == 10  # a writable open upgraded it
    upgraded = open_store(store_url)
    try:
        with upgraded.read() as conn:
            assert conn.exec_driver_sql("SELECT resolved_at FROM delivery").all() == [(None,)]
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM delivery_resolution").scalar_one() == 0
    finally:
        upgraded.close()
