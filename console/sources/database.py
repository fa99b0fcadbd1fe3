"""Connecting to a dispatcher's PostgreSQL, read-only, with errors an operator can act on (one line each,
never a password)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from console.ingest.log_files import SourceError
from console.sources.url import SourceURL

CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 60_000


def connect(url: SourceURL) -> Any:
    """A psycopg connection whose transactions are read-only; SourceError when the server cannot be used."""
    try:
        import psycopg
    except ModuleNotFoundError:
        raise SourceError(
            f"{url.display}: reading a {url.kind} database needs psycopg: pip install 'hookconsole[postgres]'"
        ) from None
    try:
        conn = psycopg.connect(
            url.conninfo, connect_timeout=CONNECT_TIMEOUT_S, application_name="hookconsole"
        )
    except psycopg.Error as exc:
        raise SourceError(f"cannot connect to {url.display}: {first_line(url, exc)}") from None
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


def first_line(url: SourceURL, exc: BaseException) -> str:
    """The first line of a driver error, with any password masked."""
    text = str(exc).strip().splitlines()
    return url.mask(text[0] if text else type(exc).__name__)


@contextmanager
def read_transaction(url: SourceURL, conn: Any) -> Iterator[Any]:
    """One read-only snapshot with a statement timeout and no parallel workers (a reader in the background
    keeps to one process of the dispatcher's server; its per-batch queries are small); driver errors become
    SourceError."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            yield conn
    except psycopg.errors.InsufficientPrivilege as exc:
        raise SourceError(
            f"{url.display}: no permission: {first_line(url, exc)} (grant the role SELECT on the {url.kind} tables, see docs/sources.md)"
        ) from None
    except psycopg.errors.QueryCanceled:
        raise SourceError(
            f"{url.display}: a query ran longer than the statement timeout ({STATEMENT_TIMEOUT_MS // 1000} s)"
        ) from None
    except psycopg.OperationalError as exc:
        raise SourceError(f"{url.display}: connection lost: {first_line(url, exc)}") from None
    except psycopg.Error as exc:
        raise SourceError(f"{url.display}: {first_line(url, exc)}") from None


def check_tables(conn: Any, url: SourceURL, required: Sequence[str], shape: str) -> dict[str, set[str]]:
    """The columns of each required table; SourceError naming a missing table or a missing SELECT grant."""
    columns: dict[str, set[str]] = {}
    rows = conn.execute(
        "SELECT c.relname, a.attname FROM pg_catalog.pg_attribute a "
        "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped",
        (url.schema,),
    ).fetchall()
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    for table in required:
        if table not in columns:
            raise SourceError(
                f"{url.display}: table {url.schema}.{table} not found; expected {shape} (use schema= if its tables live elsewhere)"
            )
        (allowed,) = conn.execute(
            "SELECT has_table_privilege(format('%%I.%%I', %s::text, %s::text), 'SELECT')", (url.schema, table)
        ).fetchone()
        if not allowed:
            raise SourceError(
                f"{url.display}: no permission to read {url.schema}.{table} (GRANT SELECT ON it to the role, see docs/sources.md)"
            )
    return columns


def db_now_ms(conn: Any) -> int:
    """The dispatcher database's clock, in epoch milliseconds."""
    (now,) = conn.execute("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint").fetchone()
    return int(now)


def epoch_ms(column: str) -> str:
    """SQL for a timestamptz column in epoch milliseconds; NULL when it is NULL or outside 1970-2100 (what the
    log format accepts), so a hostile date is rejected by the row's checks instead of failing the query."""
    return (
        f"CASE WHEN {column} >= '1970-01-01T00:00:00Z' AND {column} < '2100-01-01T00:00:00Z' "
        f"THEN floor(extract(epoch FROM {column}) * 1000)::bigint END"
    )


def can_read(conn: Any, url: SourceURL, table: str) -> bool:
    """True when the role may SELECT from the (existing) table."""
    (allowed,) = conn.execute(
        "SELECT has_table_privilege(format('%%I.%%I', %s::text, %s::text), 'SELECT')", (url.schema, table)
    ).fetchone()
    return bool(allowed)
