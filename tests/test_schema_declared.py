"""The schema in a store is what console/store/tables.py declares: a new store, and an old one brought up to date
by the migrations, read back with SQLAlchemy's inspector (columns, types, nullability, keys, indexes); and the
declaration changes only with a schema version (tests/golden/schema.sql holds the DDL of the current one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from console.store import SCHEMA_VERSION, open_store, tables
from console.store.tables import METADATA

GOLDEN = Path(__file__).parent / "golden" / "schema.sql"

# PostgreSQL stores FLOAT as double precision and reads it back under that name.
_SAME_TYPE = {"DOUBLE PRECISION": "FLOAT"}


def _type(kind: Any, conn: Connection) -> str:
    name = str(kind.compile(dialect=conn.dialect))
    return _SAME_TYPE.get(name, name)


def _stored(conn: Connection) -> dict[str, Any]:
    found = inspect(conn)
    schema: dict[str, Any] = {}
    for name in found.get_table_names():
        schema[name] = {
            "columns": [(c["name"], _type(c["type"], conn), c["nullable"]) for c in found.get_columns(name)],
            "key": found.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in found.get_indexes(name)
            ),
        }
    return schema


def _declared(conn: Connection) -> dict[str, Any]:
    return {
        table.name: {
            "columns": [(c.name, _type(c.type, conn), c.nullable) for c in table.c],
            "key": [c.name for c in table.primary_key.columns],
            "indexes": sorted(
                (i.name, tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes
            ),
        }
        for table in METADATA.sorted_tables
    }


def _partial_condition(conn: Connection) -> str:
    """The condition of the undelivered index as the database keeps it."""
    if conn.dialect.name == "sqlite":
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'ix_delivery_undelivered'")
        where = str(sql.scalar_one()).split(" WHERE ", 1)[1]
    else:
        found = [i for i in inspect(conn).get_indexes("delivery") if i["name"] == "ix_delivery_undelivered"]
        where = str(found[0].get("dialect_options", {})["postgresql_where"])
    return where.lower().replace("(", "").replace(")", "")


def _assert_as_declared(url: str) -> None:
    store = open_store(url)
    try:
        with store.read() as conn:
            stored, declared, partial = _stored(conn), _declared(conn), _partial_condition(conn)
    finally:
        store.close()
    assert sorted(stored) == sorted(declared)
    for name, table in declared.items():
        assert stored[name] == table, name
    assert partial == "delivered_at is null and resolved_at is null"


def test_a_new_store_has_the_declared_schema(store_url: str) -> None:
    _assert_as_declared(store_url)
    store = open_store(store_url)
    try:
        with store.read() as conn:
            seq = next(c for c in inspect(conn).get_columns("delivery_attempt") if c["name"] == "seq")
            kind = _type(seq["type"], conn)
    finally:
        store.close()
    # SQLite: INTEGER PRIMARY KEY, the rowid; PostgreSQL: a BIGINT identity (bigserial)
    assert kind == ("INTEGER" if store_url.startswith("sqlite") else "BIGINT")


def test_a_version_1_store_upgraded_has_the_declared_schema(store_url: str) -> None:
    store = open_store(store_url)
    with (
        store.write() as conn
    ):  # as version 1 left it (schema 1: no cursors, alerts, target attempts, who/why)
        for table in ("alert_outbox", "alert_state", "source_cursor", "replay_target_attempt", "replay_job"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
        conn.exec_driver_sql(
            "CREATE TABLE replay_job (id VARCHAR NOT NULL, created_at BIGINT NOT NULL, state VARCHAR NOT NULL, "
            "selection VARCHAR NOT NULL, force BOOLEAN NOT NULL, concurrency INTEGER NOT NULL, "
            "total INTEGER NOT NULL, started_at BIGINT, finished_at BIGINT, heartbeat_at BIGINT, runner VARCHAR, "
            "note VARCHAR, PRIMARY KEY (id))"
        )
        conn.exec_driver_sql("DROP TABLE endpoint")
        conn.exec_driver_sql(
            "CREATE TABLE endpoint (id VARCHAR NOT NULL, name VARCHAR, url VARCHAR, scheme VARCHAR, "
            "enabled BOOLEAN NOT NULL, PRIMARY KEY (id))"
        )
        for name in ("ix_event_reward_time", "ix_event_user_time"):
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("CREATE INDEX ix_event_user ON event (user_id)")
        conn.exec_driver_sql("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store.close()
    _assert_as_declared(store_url)


def _shaped_as_version_4(conn: Connection, dialect: str) -> None:
    """What the last release's schema 4 has not: columns, tables and indexes of versions 5 and later, and the
    backlog index's old condition."""
    for index in (
        "ix_delivery_undelivered",
        "ix_delivery_resolved",
        "ix_delivery_skipped",
        "ix_attempt_failed",
    ):
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index}")
    added = {
        "delivery": ("resolved_at", "resolved_by", "resolved_reason", "scheduled_attempts", "scheduled_max"),
        "rollup_minute": ("retries_hist", "ttd_hist"),
        "rollup_hour": ("retries_hist", "ttd_hist"),
    }
    for table, columns in added.items():
        for column in columns:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
    for table in (
        "delivery_resolution",
        "gap_hour_events",
        "gap_hour_received",
        "metric_total",
        "closed_minute",
        "closed_hour",
    ):
        conn.exec_driver_sql(f"DROP TABLE {table}")
    conn.exec_driver_sql(
        "CREATE INDEX ix_delivery_undelivered ON delivery (first_attempt_at) WHERE delivered_at IS NULL"
    )
    conn.exec_driver_sql("UPDATE meta SET value = '4' WHERE key = 'schema_version'")


def test_a_version_4_store_with_traffic_upgrades_to_the_declared_schema_and_exact_state(
    store_url: str, tmp_path: Path
) -> None:
    """A store as the last release left it (schema 4), with deliveries in it: one writable open upgrades it
    through every later step, and the state those steps fill equals a recount from the attempts."""
    import orjson

    from console.ingest.service import ingest_sources
    from console.store.recount import verify_derived_state
    from tests.helpers import log_line

    log = tmp_path / "log.jsonl"
    lines = [
        log_line(
            f"evt_{i}",
            endpoint,
            attempt=n,
            status_code=status,
            attempted_at=f"2026-05-05T10:{i:02d}:{n:02d}Z",
        )
        for i in range(12)
        for endpoint in ("ep_a", "ep_b")
        for n, status in ((1, 503), (2, 503 if i % 3 else 200), (4, 200))
    ]
    log.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    store = open_store(store_url)
    ingest_sources(store, [str(log)])
    with store.write() as conn:
        _shaped_as_version_4(conn, store.dialect.name)
    store.close()
    _assert_as_declared(store_url)
    upgraded = open_store(store_url)
    try:
        assert verify_derived_state(upgraded) == []
    finally:
        upgraded.close()


def declared_ddl() -> str:
    """The DDL tables.py declares, on SQLite then PostgreSQL, headed by the schema version."""
    lines = [f"-- schema version {SCHEMA_VERSION}"]
    dialects: tuple[Dialect, ...] = (sqlite.dialect(), postgresql.dialect())
    for dialect in dialects:
        lines.append(f"-- {dialect.name}")
        for table in sorted(METADATA.tables.values(), key=lambda t: t.name):
            lines.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                lines.append(str(CreateIndex(index).compile(dialect=dialect)).strip() + ";")
    return "".join(f"{line.rstrip()}\n" for text in lines for line in text.splitlines())


def test_the_declaration_changes_only_with_a_schema_version() -> None:
    """A change to tables.py reaches stores in use only through a step in schema.MIGRATIONS: add it, raise
    SCHEMA_VERSION, then `python -m tests.test_schema_declared > tests/golden/schema.sql`."""
    assert declared_ddl() == GOLDEN.read_text()


def test_the_write_paths_column_lists_are_the_declared_columns() -> None:
    """The writer's and the rollups' driver SQL (kept as text for speed) names the declared columns."""
    from console.domain import records
    from console.store import rollup, writer

    def names(table: Any, *leave_out: str) -> tuple[str, ...]:
        return tuple(c.name for c in table.c if c.name not in leave_out)

    assert sorted(records.ATTEMPT_COLUMNS) == sorted(names(tables.delivery_attempt, "seq"))
    assert names(tables.event) == records.EVENT_COLUMNS
    keys = tuple(c.name for c in tables.delivery.primary_key.columns)
    claim = ("claim_job", "claim_until")
    resolution = ("resolved_at", "resolved_by", "resolved_reason")  # written by store/resolutions.py
    assert names(tables.delivery, *keys, "event_type", *claim, *resolution) == writer.DELIVERY_STATE_COLUMNS
    for table in (tables.rollup_minute, tables.rollup_hour):
        assert tuple(c.name for c in table.primary_key.columns) == rollup.KEY_COLUMNS
        assert names(table, *rollup.KEY_COLUMNS, *rollup.HIST_COLUMNS) == rollup.COUNTER_COLUMNS
        assert tuple(c.name for c in table.c)[-len(rollup.HIST_COLUMNS) :] == rollup.HIST_COLUMNS


if __name__ == "__main__":
    print(declared_ddl(), end="")
