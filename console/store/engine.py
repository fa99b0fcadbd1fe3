"""Opening a store from a URL: engine set-up per dialect and transaction helpers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from console.domain.latency import bucket_of
from console.domain.urls import mask_url
from console.settings import DEFAULT_DB
from console.store.dialect import Dialect, dialect_for
from console.store.staged import STAGE_SCHEMA

SQLITE_BUSY_TIMEOUT_MS = 30_000


class StoreError(Exception):
    """The store cannot be opened or used; the message names the store without any password."""


def normalise_url(url: str | None) -> str:
    """Accept a SQLAlchemy URL, a plain file path (SQLite) or a bare postgresql:// URL (psycopg 3)."""
    if not url:
        return DEFAULT_DB
    if "://" not in url:
        return f"sqlite:///{Path(url)}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def describe_url(url: str) -> str:
    """The URL as it may be printed: never with a password, token or other credential."""
    return mask_url(url)


def _parse(url: str) -> URL:
    """The SQLAlchemy URL, or a StoreError saying what is wrong with it (a port that is not a number, say)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"cannot parse database URL {describe_url(url)!r}") from None
    except ValueError:
        raise StoreError(
            f"cannot parse database URL {describe_url(url)!r}: the port is not a number"
        ) from None
    return parsed


def check_url(url: str | None) -> None:
    """Raise a StoreError saying what is wrong with a store URL that cannot be parsed (before anything uses it)."""
    _parse(normalise_url(url))


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory SQLite)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    database = parsed.database
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database)


def store_files(url: str) -> tuple[Path, ...]:
    """The files a SQLite store lives in (the database, its WAL, shared-memory and rollback journal)."""
    file = sqlite_file(url)
    if file is None:
        return ()
    return (file, *(file.with_name(file.name + suffix) for suffix in ("-wal", "-shm", "-journal")))


def _read_only_url(file: Path) -> str:
    """A SQLite URI that opens `file` read-only; immutable when its folder cannot be written (read-only media),
    since a WAL reader otherwise needs to create the -shm file next to it."""
    folder = file.resolve().parent
    flag = "mode=ro" if os.access(folder, os.W_OK) else "immutable=1"
    return f"sqlite:///file:{quote(str(file.resolve()))}?{flag}&uri=true"


def _sqlite_engine(url: str, read_only: bool = False) -> Engine:
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver: the store issues BEGIN itself (BEGIN IMMEDIATE for writers).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if not read_only:
            # Before anything else writes the file: a new store is created giving pages back on prune
            # (console.store.upkeep). Only on an empty file: on a store in use the pragma waits for the write
            # lock (and would take effect only at a full VACUUM anyway).
            (pages,) = cursor.execute("PRAGMA page_count").fetchone()
            if pages == 0:
                cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # where bulk ingest's staged rows are loaded (console.store.staged)
            cursor.execute(f"ATTACH ':memory:' AS {STAGE_SCHEMA}")
        cursor.execute("PRAGMA temp_store = FILE")
        cursor.execute("PRAGMA cache_size = -32768")
        cursor.close()
        # `report --where` groups attempts by latency bucket in SQL (Dialect.latency_bucket).
        dbapi_connection.create_function("latency_bucket", 1, _latency_bucket, deterministic=True)

    return engine


def _latency_bucket(latency_ms: float | None) -> int | None:
    return None if latency_ms is None else bucket_of(latency_ms)


def _postgres_engine(url: str) -> Engine:
    engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True, pool_size=4, max_overflow=8)
    return engine


class Store:
    """A delivery store: an engine, its dialect seam and the write/read transaction helpers."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.dialect: Dialect = dialect_for(engine.dialect.name)
        self.url = url
        # Writers in this process take turns here first: SQLite's own busy handler backs off in sleeps of up
        # to 100 ms, which turns two threads of one process contending for the write lock into long stalls.
        self._writers = threading.Lock()

    @property
    def display_url(self) -> str:
        return describe_url(self.url)

    @contextmanager
    def _transaction(self, begin: Callable[[Connection], None]) -> Iterator[Connection]:
        with self._writers, self.engine.connect() as conn:
            begin(conn)
            try:
                yield conn
            except BaseException:
                _rollback_quietly(conn)  # on a lost connection the ROLLBACK fails too: keep the first error
                raise
            conn.exec_driver_sql("COMMIT")

    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction that excludes other writers; commits on success, rolls back on error."""
        return self._transaction(self.dialect.begin_write)

    def claim(self) -> AbstractContextManager[Connection]:
        """The transaction in which replay items are claimed (see Dialect.begin_claim)."""
        return self._transaction(self.dialect.begin_claim)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot for several queries."""
        with self.engine.connect() as conn:
            self.dialect.begin_read(conn)
            try:
                yield conn
            finally:
                conn.exec_driver_sql("ROLLBACK")

    def close(self) -> None:
        self.engine.dispose()


def _rollback_quietly(conn: Connection) -> None:
    try:
        conn.exec_driver_sql("ROLLBACK")
    except Exception:  # the connection is gone or unusable; the error that got us here says why
        conn.invalidate()


def create_store_engine(url: str, read_only: bool = False) -> Engine:
    """An engine for a normalised URL, with a clear error for unknown or uninstalled drivers.

    `read_only` opens a SQLite file read-only (and immutable on read-only media); it must exist."""
    parsed = _parse(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            file = sqlite_file(url)
            if file is not None:
                folder = file.parent
                if not folder.exists():
                    raise StoreError(f"cannot open store {describe_url(url)}: folder {folder} does not exist")
                if read_only:
                    return _sqlite_engine(_read_only_url(file), read_only=True)
            return _sqlite_engine(url)
        if parsed.get_backend_name() == "postgresql":
            return _postgres_engine(url)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(
            f"cannot open {describe_url(url)}: driver missing ({exc}); PostgreSQL needs: pip install 'hookconsole[postgres]'"
        ) from None
    raise StoreError(
        f"unsupported database {describe_url(url)}: use sqlite:///FILE or postgresql+psycopg://..."
    )


__all__ = [
    "Store",
    "StoreError",
    "check_url",
    "create_store_engine",
    "describe_url",
    "normalise_url",
    "sqlite_file",
    "store_files",
]
