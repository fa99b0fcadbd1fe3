"""The one seam where SQLite and PostgreSQL differ: write locking, placeholders, bulk insert, claims.

Everything else in the store is the same SQL on both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, any_, bindparam, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from console.domain.latency import FLOOR_MS, MAX_BUCKET, RATIO
from console.store.staged import CAN_STAGE, STAGE_SCHEMA, StagedRows

# Every writer (ingest, replay, simulator, prune) holds it for one batch transaction, so derived state
# (deliveries, rollups) is computed from a consistent view and `seq` grows in commit order. Two 32-bit keys: a
# class for the writers' lock (the lease has its own, console/store/lease.py) and the store's schema, so stores in
# separate schemas of one database never wait on each other.
WRITE_LOCK_KEY = "hashtext('hookconsole.write'), hashtext(current_schema())"
LONG_IN_LIST = 500  # longer IN lists go as one array parameter (see Dialect.among and Dialect.in_list)


class Dialect:
    """SQLite: one writer at a time by `BEGIN IMMEDIATE` (WAL lets readers go on)."""

    name = "sqlite"
    placeholder = "?"
    max_params = 30_000
    takes_staged_rows = CAN_STAGE  # bulk_insert copies `StagedRows` from their image
    payload_reader = True  # PostgreSQL: whether the store has its payload function (see store/where_sql.py)
    endpoint_source = (
        True  # whether the store has endpoint.source (a store before version 3 opened read-only)
    )
    resolutions = (
        True  # whether the store has delivery.resolved_at (before version 6, opened read-only: none)
    )
    gap_state = True  # whether the store keeps the gap checks' state (version 7; older ones opened read-only)
    delivery_hists = True  # whether rollups hold retries_hist and ttd_hist (version 8)
    closed_counts = (
        True  # whether the store keeps the closed counts and the failed-attempts index (version 9)
    )
    ordering_state = True  # whether the store keeps ordering anomalies (version 10)

    def begin_write(self, conn: Connection) -> None:
        """Start a write transaction that excludes every other writer until commit."""
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def begin_read(self, conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    def begin_claim(self, conn: Connection) -> None:
        """Start the transaction that claims replay items (a write transaction on SQLite)."""
        self.begin_write(conn)

    def bulk_insert(
        self, conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Insert many rows at once (rows are known to be new). This is ingest's hot path, so the rows go
        straight to the driver's executemany, in the transaction the connection holds (SQLAlchemy's cursor
        wrapping and parameter copies cost a quarter of the insert's time here)."""
        if not rows:
            return
        driver = conn.connection.driver_connection
        assert driver is not None
        if isinstance(rows, StagedRows):
            # copied from their image by SQLite itself (see console.store.staged)
            sql = rows.insert_sql(table, columns)
            try:
                driver.deserialize(rows.image, name=STAGE_SCHEMA)
                driver.execute(sql)
            except sqlite3.Error as exc:
                raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
            return
        marks = ", ".join(self.placeholder for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        try:
            driver.executemany(sql, rows)
        except sqlite3.Error as exc:  # as SQLAlchemy would raise it, so callers see one kind of failure
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

    def skip_locked(self) -> str:
        """The suffix that makes a claiming SELECT skip rows another session holds."""
        return ""

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """`column IN (...)` with its parameters; a long list goes as one JSON array parameter, since SQLite
        takes at most 32,766 variables in a statement (an `--event-ids-from` file may hold more ids)."""
        if len(values) <= LONG_IN_LIST:
            return f"{column} IN ({', '.join(self.placeholder for _ in values)})", list(values)
        return f"{column} IN (SELECT value FROM json_each({self.placeholder}))", [
            orjson.dumps(list(values)).decode()
        ]

    def latency_bucket(self, column: str) -> str:
        """The latency histogram bucket of a column in ms (NULL for NULL), as `domain.latency.bucket_of`
        computes it: here a function each SQLite connection gets (console.store.engine), so exactly the same."""
        return f"latency_bucket({column})"

    def among(self, column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
        """`column IN (...)` for a `select()`: one expanding bound parameter, or (a long list, as `in_list`
        explains) one JSON array parameter read by json_each."""
        if len(values) <= LONG_IN_LIST:
            return column.in_(list(values))
        listed = func.json_each(bindparam(None, orjson.dumps(list(values)).decode())).table_valued("value")
        return column.in_(select(listed.c.value))

    def is_unique_violation(self, exc: BaseException) -> bool:
        """True when `exc` (from SQLAlchemy or the driver) is a unique or primary key violation."""
        orig = getattr(exc, "orig", None) or exc
        return "UNIQUE constraint failed" in str(orig)


class PostgresDialect(Dialect):
    """PostgreSQL: writers serialise on a transaction-level advisory lock; bulk rows go in with COPY."""

    name = "postgresql"
    placeholder = "%s"
    max_params = 30_000
    takes_staged_rows = False  # COPY takes the rows as they are
    payload_reader = False  # set when the store is opened

    def begin_write(self, conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")

    def begin_read(self, conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def begin_claim(self, conn: Connection) -> None:
        """Claims take row locks (FOR UPDATE SKIP LOCKED), not the writers' lock: they never wait on an ingest."""
        conn.exec_driver_sql("BEGIN")

    def __init__(self) -> None:
        self._copy_types: dict[tuple[str, tuple[str, ...]], list[int]] = {}

    def bulk_insert(
        self, conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """COPY in binary: the server reads numbers and payload bytes as they are, where text COPY has
        each value formatted by the client and parsed back by the server (bytea as hex, twice its size)."""
        if not rows:
            return
        import psycopg

        raw = conn.connection.driver_connection
        assert raw is not None
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        try:
            types = self._column_types(raw, table, tuple(columns))
            with raw.cursor() as cursor, cursor.copy(sql) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
        except (
            psycopg.Error
        ) as exc:  # as SQLAlchemy would raise it (a cut connection: one line, not a traceback)
            raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc

    def _column_types(self, raw: Any, table: str, columns: tuple[str, ...]) -> list[int]:
        """The type OIDs of `table`'s `columns` (binary COPY needs them), asked once per table."""
        key = (table, columns)
        types = self._copy_types.get(key)
        if types is None:
            with raw.cursor() as cursor:
                cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE false")
                types = self._copy_types[key] = [c.type_code for c in cursor.description]
        return types

    def skip_locked(self) -> str:
        return " FOR UPDATE OF d SKIP LOCKED"

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        if len(values) <= LONG_IN_LIST:
            return super().in_list(column, values)
        return f"{column} = ANY({self.placeholder})", [list(values)]

    def latency_bucket(self, column: str) -> str:
        """`bucket_of` in SQL: the same double-precision logarithms, so the same bucket (LEAST ignores NULL, so
        NULL is tested first)."""
        return (
            f"(CASE WHEN {column} IS NULL THEN NULL WHEN {column} < {FLOOR_MS!r}::float8 THEN 0 ELSE LEAST(CAST(FLOOR(LN({column} / "
            f"{FLOOR_MS!r}::float8) / LN({RATIO!r}::float8)) AS INTEGER) + 1, {MAX_BUCKET}) END)"
        )

    def among(self, column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
        if len(values) <= LONG_IN_LIST:
            return super().among(column, values)
        return column == any_(bindparam(None, list(values)))

    def is_unique_violation(self, exc: BaseException) -> bool:
        orig = getattr(exc, "orig", None) or exc
        return getattr(orig, "sqlstate", None) == "23505"


def dialect_for(name: str) -> Dialect:
    """The seam object for a SQLAlchemy dialect name."""
    if name == "sqlite":
        return Dialect()
    if name == "postgresql":
        return PostgresDialect()
    raise ValueError(f"unsupported database {name!r}: use a sqlite:/// or postgresql+psycopg:// URL")
