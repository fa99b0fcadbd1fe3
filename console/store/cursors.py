"""Where each dispatcher source stopped reading: one row per source, written in the same transaction as the
attempts it covers, so a killed read resumes exactly where its last committed batch ended."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from console.domain.records import AttemptRecord, EventRecord
from console.domain.times import now_ms
from console.store import gap_counts
from console.store.dialect import Dialect
from console.store.engine import Store
from console.store.tables import source_cursor
from console.store.writer import WriteResult, prepare_batch, write_prepared

_COLUMNS = ", ".join(c.name for c in source_cursor.c)  # source, state, updated_at


def load_cursor(store: Store, source: str) -> dict[str, Any] | None:
    """The saved state of `source`, or None when it has never been read into this store."""
    p = store.dialect.placeholder
    with store.read() as conn:
        state = conn.exec_driver_sql(
            f"SELECT state FROM source_cursor WHERE source = {p}", (source,)
        ).scalar()
    return orjson.loads(state) if state is not None else None


def rename_cursor(store: Store, old: str, new: str) -> None:
    """Keep the cursor saved under `old` under `new` instead (when `new` has none yet); no row keeps `old`."""
    p = store.dialect.placeholder
    with store.write() as conn:
        if conn.exec_driver_sql(f"SELECT 1 FROM source_cursor WHERE source = {p}", (new,)).first():
            conn.exec_driver_sql(f"DELETE FROM source_cursor WHERE source = {p}", (old,))
        else:
            conn.exec_driver_sql(f"UPDATE source_cursor SET source = {p} WHERE source = {p}", (new, old))


def _save(conn: Any, p: str, source: str, state: dict[str, Any]) -> None:
    values = (source, orjson.dumps(state).decode(), now_ms())
    conn.exec_driver_sql(
        f"INSERT INTO source_cursor ({_COLUMNS}) VALUES ({p}, {p}, {p}) "
        "ON CONFLICT (source) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        values,
    )


def save_cursor(store: Store, source: str, state: dict[str, Any]) -> None:
    """Record a source's position on its own (when a read stored nothing new)."""
    with store.write() as conn:
        _save(conn, store.dialect.placeholder, source, state)


def write_with_cursor(
    store: Store,
    source: str,
    state: dict[str, Any],
    attempts: list[AttemptRecord],
    events: Iterable[EventRecord] = (),
    endpoint_sources: dict[str, str] | None = None,
) -> WriteResult:
    """Store a batch through the one write path and move the source's cursor, in one transaction;
    `endpoint_sources` labels endpoints with the dispatcher tenant they belong to (endpoint.source)."""
    batch = prepare_batch(attempts, events)
    with store.write() as conn:
        result = write_prepared(conn, store.dialect, batch)
        if endpoint_sources:
            p = store.dialect.placeholder
            # A new tenant label moves the endpoints' events in the missing-delivery counts.
            relabelled = sorted(set(endpoint_sources) - _labelled(conn, store.dialect, endpoint_sources))
            counted_before = gap_counts.of_endpoints(conn, store.dialect, relabelled)
            conn.exec_driver_sql(
                f"UPDATE endpoint SET source = {p} WHERE id = {p} AND (source IS NULL OR source <> {p})",
                [(label, endpoint_id, label) for endpoint_id, label in endpoint_sources.items()],
            )
            after = gap_counts.of_endpoints(conn, store.dialect, relabelled)
            gap_counts.apply(conn, store.dialect, counted_before, after)
        _save(conn, store.dialect.placeholder, source, state)
    return result


def _labelled(conn: Connection, dialect: Dialect, endpoint_sources: dict[str, str]) -> set[str]:
    """The endpoints whose stored label is already the one given."""
    condition, params = dialect.in_list("id", sorted(endpoint_sources))
    return {
        endpoint_id
        for endpoint_id, source in conn.exec_driver_sql(
            f"SELECT id, source FROM endpoint WHERE {condition}", tuple(params)
        )
        if source == endpoint_sources[endpoint_id]
    }
