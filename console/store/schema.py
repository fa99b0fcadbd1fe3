"""Schema creation and upgrades. The store records its schema version in `meta`; opening an older store
upgrades it step by step, opening a newer one stops with a clear message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from console.store.engine import (
    Store,
    StoreError,
    create_store_engine,
    describe_url,
    normalise_url,
    sqlite_file,
)
from console.store.failures import reason
from console.store.impact import ensure_ordering_indexes
from console.store.where_sql import PG_DOC_DDL, PG_DOC_FUNCTION

SCHEMA_VERSION = 4


# Columns version 2 added to existing tables (created with the table in a new store).
ADDED_COLUMNS = {
    "replay_job": ("operator", "reason", "target_url", "target_secret"),
}


def _metadata() -> MetaData:
    """Every table of the store. The table classes are imported here, when a store is created or upgraded,
    not by every command: building them (SQLModel, pydantic) is a third of a reading command's start-up."""
    from sqlmodel import SQLModel

    from console.store import (
        alerts,  # noqa: F401  (alert state and outbox tables)
        cursors,  # noqa: F401  (source cursors)
        replay_targets,  # noqa: F401  (attempts of replays sent to another target)
        tables,  # noqa: F401  (registers the tables on SQLModel.metadata)
    )

    return SQLModel.metadata


def _create_missing_tables(conn: Connection) -> None:
    """Version 2 adds tables (source cursors, alert state, notification outbox, replay target attempts) and
    a few nullable columns (who replayed, why, to which target): create what is missing."""
    _metadata().create_all(conn)
    _add_missing_columns(conn)


def _add_missing_columns(conn: Connection) -> None:
    for table, columns in ADDED_COLUMNS.items():
        present = {c["name"] for c in inspect(conn).get_columns(table)}
        for column in columns:
            if column not in present:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR")


def _add_endpoint_source(conn: Connection) -> None:
    """Version 3: the tenant an endpoint belongs to at its dispatcher (`endpoint.source`, docs/sources.md)."""
    if "source" not in {c["name"] for c in inspect(conn).get_columns("endpoint")}:
        conn.exec_driver_sql("ALTER TABLE endpoint ADD COLUMN source VARCHAR")


def _add_job_options(conn: Connection) -> None:
    """Version 4: a replay job's options as JSON (`replay_job.options`: ordered, skip-superseded, where, to...)."""
    if "options" not in {c["name"] for c in inspect(conn).get_columns("replay_job")}:
        conn.exec_driver_sql("ALTER TABLE replay_job ADD COLUMN options VARCHAR")


# MIGRATIONS[n] upgrades a store at version n to n + 1, inside the write transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _create_missing_tables,
    2: _add_endpoint_source,
    3: _add_job_options,
}


class SchemaVersionError(StoreError):
    """The store was written by a newer hookconsole."""


def open_store(url: str | None = None, read_only: bool = False) -> Store:
    """Open (creating or upgrading) the store at `url`; the default is ./hookconsole.db.

    `read_only` (reading commands) never creates or upgrades anything: a missing or empty store is an error,
    a SQLite file is opened read-only (so a store on read-only media can be read)."""
    normalised = normalise_url(url)
    file = sqlite_file(normalised)
    if file is not None and file.is_dir():
        raise StoreError(
            f"{file} is a folder, not a store file (give a file, e.g. {file / 'hookconsole.db'})"
        )
    if read_only and file is not None and not file.exists():
        raise StoreError(f"no store at {file}; ingest first or pass --db")
    store = Store(create_store_engine(normalised, read_only=read_only), normalised)
    try:
        if read_only:
            check_readable(store, file)
        else:
            ensure_schema(store)
    except SQLAlchemyError as exc:
        store.close()
        raise StoreError(f"cannot open store {describe_url(normalised)}: {reason(exc, normalised)}") from None
    except BaseException:
        store.close()
        raise
    return store


def read_version(conn: Connection) -> int | None:
    """The schema version of the store, or None for an empty database."""
    if not inspect(conn).has_table("meta"):
        return None
    row = conn.exec_driver_sql("SELECT value FROM meta WHERE key = 'schema_version'").first()
    if row is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise StoreError(
            f"the schema version in table meta is {str(row[0])[:40]!r}, not a number (was meta edited?)"
        ) from None


def _version(store: Store, conn: Connection) -> int | None:
    try:
        return read_version(conn)
    except StoreError as exc:
        raise StoreError(f"cannot open store {store.display_url}: {exc}") from None


def _refuse_newer(store: Store, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"store {store.display_url} has schema version {version}, newer than this hookconsole "
            f"understands ({SCHEMA_VERSION}); upgrade hookconsole to open it"
        )


def check_readable(store: Store, file: Path | None = None) -> None:
    """What a reading command needs: a store with tables, at a version this hookconsole understands.

    An older store is read as it is: upgrades add tables reading commands do not use, and the endpoint's
    source (version 3), which they read as unknown when it is absent, and a job's options (version 4), read as
    those of a job stored before them."""
    with store.read() as conn:
        version = _version(store, conn)
        if version is not None:
            store.dialect.payload_reader = _has_payload_reader(store, conn)
            store.dialect.endpoint_source = version >= 3
    if version is None:
        raise StoreError(f"no store at {file or store.display_url}; ingest first or pass --db")
    _refuse_newer(store, version)


def _has_payload_reader(store: Store, conn: Connection) -> bool:
    if store.dialect.name != "postgresql":
        return True
    found = conn.exec_driver_sql(f"SELECT to_regprocedure('{PG_DOC_FUNCTION}(bytea)')").scalar()
    return found is not None


def ensure_payload_reader(store: Store) -> None:
    """PostgreSQL: the function `--where` reads payloads through (stores of any version get it)."""
    if store.dialect.name != "postgresql":
        return
    with store.read() as conn:
        if _has_payload_reader(store, conn):
            store.dialect.payload_reader = True
            return
    with store.write() as conn:
        conn.exec_driver_sql(PG_DOC_DDL)
    store.dialect.payload_reader = True


def ensure_schema(store: Store) -> None:
    """Create the tables in an empty database, upgrade an older one, refuse a newer one."""
    with store.read() as conn:
        version = _version(store, conn)
    if version == SCHEMA_VERSION:
        ensure_ordering_indexes(store)
        ensure_payload_reader(store)
        return
    if version is not None:
        _refuse_newer(store, version)
    _upgrade(store)
    ensure_payload_reader(store)


def _upgrade(store: Store) -> None:
    with store.write() as conn:
        version = _version(store, conn)  # another process may have created or upgraded it meanwhile
        if version is None:
            _metadata().create_all(conn)
            _set_version(conn, store.dialect.placeholder, SCHEMA_VERSION, insert=True)
            return
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
            _set_version(conn, store.dialect.placeholder, version, insert=False)


def _set_version(conn: Connection, p: str, version: int, insert: bool) -> None:
    if insert:
        conn.exec_driver_sql(f"INSERT INTO meta (key, value) VALUES ('schema_version', {p})", (str(version),))
    else:
        conn.exec_driver_sql(f"UPDATE meta SET value = {p} WHERE key = 'schema_version'", (str(version),))
