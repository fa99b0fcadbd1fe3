"""Shared fixtures: a fresh store on SQLite and on PostgreSQL for every test that asks for `store_url`.

PostgreSQL tests use the server at HOOKCONSOLE_TEST_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
and get a schema of their own. Without a server they skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.store import Store, open_store

PG_URL = os.environ.get("HOOKCONSOLE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, str | None] = {}


def pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it answers."""
    if "reason" not in _pg_state:
        try:
            import psycopg

            with psycopg.connect(_libpq_url(PG_URL), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["reason"] = None
        except Exception as exc:  # any failure to connect means: no server for these tests
            _pg_state["reason"] = f"{type(exc).__name__}: {exc}".strip()
    return _pg_state["reason"]


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def require_postgres() -> None:
    reason = pg_unavailable()
    if reason is None:
        return
    message = (
        f"PostgreSQL not reachable at {PG_URL} ({reason}); start it (see docs/postgresql.md) "
        "or set HOOKCONSOLE_TEST_PG to run these tests"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL to a fresh, empty PostgreSQL schema, dropped after the test."""
    yield from _fresh_schema()


@pytest.fixture
def other_pg_schema_url() -> Iterator[str]:
    """A second fresh schema of the same database, for what two stores side by side do."""
    yield from _fresh_schema()


def _fresh_schema() -> Iterator[str]:
    require_postgres()
    import psycopg

    schema = f"hc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq_url(PG_URL), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(_libpq_url(PG_URL), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A URL to a fresh PostgreSQL database of its own, dropped after the test: for what another test's open
    transaction in the shared database would change (VACUUM keeps rows any snapshot of the database may see)."""
    require_postgres()
    import psycopg

    name = f"hc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq_url(PG_URL), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, query = PG_URL.partition("?")
    try:
        yield f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    finally:
        with psycopg.connect(_libpq_url(PG_URL), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to a fresh, empty store: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield opened
    finally:
        opened.close()
