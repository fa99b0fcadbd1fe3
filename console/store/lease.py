"""An exclusive lease on a store that dies with its holder: which of several `watch` processes is active.

PostgreSQL: a session advisory lock on a connection held for the lease's life, keyed by the store's schema (two
stores in one database do not share it); the server drops it when the session ends, a killed process's too.
SQLite: an OS file lock (flock) on `<store file>.watch.lock` beside the store; the kernel drops it when the
holder's file descriptor closes, at exit or kill. An in-memory SQLite store lives in one process: always granted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import Connection

from console.store.engine import Store, StoreError, sqlite_file

LEASE_SUFFIX = ".watch.lock"
# Two 32-bit keys: a class for this lease (apart from the writers' lock, see dialect.py) and the store's schema.
_PG_KEY = "hashtext('hookconsole.watch'), hashtext(current_schema())"
_PG_TRY = f"SELECT pg_try_advisory_lock({_PG_KEY})"
_PG_UNLOCK = f"SELECT pg_advisory_unlock({_PG_KEY})"


def lease_file(store: Store) -> Path | None:
    """The lock file of a SQLite store's lease (None on PostgreSQL and in-memory SQLite)."""
    file = sqlite_file(store.url)
    return None if file is None else file.with_name(file.name + LEASE_SUFFIX)


class StoreLease:
    """`try_acquire` is non-blocking; `held` checks a held lease is still there (a PostgreSQL session can be
    lost); `release` gives it up. Not shared between threads."""

    def __init__(self, store: Store, name: str = "watch") -> None:
        self.store = store
        self.name = name
        self.file = lease_file(store)
        self._fd: int | None = None
        self._conn: Connection | None = None
        self._memory = False

    @property
    def where(self) -> str:
        """What holds the lease, as a person reads it (never a password)."""
        return str(self.file) if self.file is not None else f"an advisory lock in {self.store.display_url}"

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True when this process holds it now."""
        if self._fd is not None or self._conn is not None or self._memory:
            return True
        if self.store.dialect.name == "postgresql":
            return self._try_postgres()
        if self.file is None:
            self._memory = True
            return True
        return self._try_file(self.file)

    def _try_file(self, file: Path) -> bool:
        try:
            fd = os.open(file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except PermissionError:  # a read-only store folder: a lock file made beforehand still locks
            try:
                fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise StoreError(f"cannot open the {self.name} lease file {file}: {exc.strerror}") from None
        except OSError as exc:
            raise StoreError(f"cannot open the {self.name} lease file {file}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock the {self.name} lease file {file}: {exc.strerror}") from None
        self._fd = fd
        return True

    def _try_postgres(self) -> bool:
        conn = self.store.engine.connect()  # AUTOCOMMIT (engine.py): the lock is the session's, not a txn's
        try:
            got = bool(conn.exec_driver_sql(_PG_TRY).scalar())
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        """Whether the lease is still this process's: False once a PostgreSQL session holding it is gone."""
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("SELECT 1").scalar()
            except Exception:  # the session (and with it the lock) is gone
                self._drop_connection()
                return False
            return True
        return self._fd is not None or self._memory

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
        if self._conn is not None:
            # unlock first: the server ends a closed session's backend a moment later, lock and all
            with contextlib.suppress(Exception):
                self._conn.exec_driver_sql(_PG_UNLOCK).scalar()
            self._drop_connection()
        self._memory = False

    def _drop_connection(self) -> None:
        """Close the session rather than return it to the pool: a pooled session would keep the lock."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
            with contextlib.suppress(Exception):
                conn.close()
