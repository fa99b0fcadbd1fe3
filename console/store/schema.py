"""Schema creation and upgrades. The store records its schema version in `meta`; opening an older store
upgrades it step by step, opening a newer one stops with a clear message."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import SQLModel

import console.store.cursors  # noqa: F401  (the source_cursor table)
from console.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from console.store.engine import Store, StoreError, create_store_engine, describe_url, normalise_url

SCHEMA_VERSION = 2


def _create_missing_tables(conn: Connection) -> None:
    """Version 2 adds tables only (source cursors, alert state, notification outbox): create what is missing."""
    SQLModel.metadata.create_all(conn)


# MIGRATIONS[n] upgrades a store at version n to n + 1, inside the write transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _create_missing_tables}


class SchemaVersionError(StoreError):
    """The store was written by a newer hookconsole."""


def open_store(url: str | None = None) -> Store:
    """Open (creating or upgrading) the store at `url`; the default is ./hookconsole.db."""
    normalised = normalise_url(url)
    store = Store(create_store_engine(normalised), normalised)
    try:
        ensure_schema(store)
    except (OperationalError, ProgrammingError) as exc:
        store.close()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise StoreError(f"cannot open store {describe_url(normalised)}: {reason}") from None
    except BaseException:
        store.close()
        raise
    return store


def read_version(conn: Connection) -> int | None:
    """The schema version of the store, or None for an empty database."""
    if not inspect(conn).has_table("meta"):
        return None
    row = conn.exec_driver_sql("SELECT value FROM meta WHERE key = 'schema_version'").first()
    return int(row[0]) if row else None


def ensure_schema(store: Store) -> None:
    """Create the tables in an empty database, upgrade an older one, refuse a newer one."""
    with store.read() as conn:
        version = read_version(conn)
    if version == SCHEMA_VERSION:
        return
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"store {store.display_url} has schema version {version}, newer than this hookconsole "
            f"understands ({SCHEMA_VERSION}); upgrade hookconsole to open it"
        )
    with store.write() as conn:
        version = read_version(conn)  # another process may have created or upgraded it meanwhile
        if version is None:
            SQLModel.metadata.create_all(conn)
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
