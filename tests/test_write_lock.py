"""The writers' lock on PostgreSQL: one store's writers wait on each other, never on another schema's store."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from console.store import Store, open_store

pytestmark = pytest.mark.postgres


def _gets_lock(store: Store) -> bool:
    """Whether a writer of `store` gets the writers' lock within half a second."""
    with store.engine.connect() as conn:
        conn.exec_driver_sql("SET lock_timeout = '500ms'")
        try:
            store.dialect.begin_write(conn)
        except OperationalError as exc:
            assert "lock timeout" in str(exc)
            conn.exec_driver_sql("ROLLBACK")
            return False
        conn.exec_driver_sql("ROLLBACK")
        return True


def test_a_writer_waits_on_its_own_store_only(pg_schema_url: str, other_pg_schema_url: str) -> None:
    first, same, other = open_store(pg_schema_url), open_store(pg_schema_url), open_store(other_pg_schema_url)
    try:
        with first.engine.connect() as holding:
            first.dialect.begin_write(holding)  # a batch of the first store in progress
            assert not _gets_lock(same)  # a second writer of that store waits for it
            assert _gets_lock(other)  # a store in another schema of the database does not
            holding.exec_driver_sql("ROLLBACK")
        assert _gets_lock(same)
    finally:
        for store in (first, same, other):
            store.close()
