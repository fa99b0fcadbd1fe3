"""Schema creation and upgrades. The store records its schema version in `meta`; opening an older store
upgrades it step by step, opening a newer one stops with a clear message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Table, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from console.store import closed_counts, gap_counts, ordering, tables
from console.store.dialect import dialect_for
from console.store.engine import (
    Store,
    StoreError,
    create_store_engine,
    describe_url,
    normalise_url,
    sqlite_file,
)
from console.store.failures import reason
from console.store.rollup import fill_delivery_hists
from console.store.tables import METADATA
from console.store.where_sql import PG_DOC_DDL, PG_DOC_FUNCTION

SCHEMA_VERSION = 10


# The tables version 2 added (and stores of versions 2 to 4 may still lack: they were made on first use).
_VERSION_2_TABLES = (
    tables.source_cursor,
    tables.alert_state,
    tables.alert_outbox,
    tables.replay_target_attempt,
)


def _create_tables(conn: Connection, *added: Table) -> None:
    """Create those of `added` the store lacks, with their indexes: a step makes what it adds, never a table a
    later step adds (its fill would find it already there)."""
    METADATA.create_all(conn, tables=list(added))


def _create_indexes(conn: Connection, table: Table, *names: str) -> None:
    """Create the declared indexes `names` of `table` the store lacks: a step makes the indexes it adds, never
    one over columns a later step adds."""
    present = {i["name"] for i in inspect(conn).get_indexes(table.name)}
    for index in table.indexes:
        if index.name in names and index.name not in present:
            index.create(conn)


def _create_missing_tables(conn: Connection) -> None:
    """Version 2: source cursors, alert state, the notification outbox and replay target attempts, and the
    columns of who replayed, why and to which target (created with the table in a new store)."""
    _create_tables(conn, *_VERSION_2_TABLES)
    _add_missing_columns(conn, tables.replay_job, "operator", "reason", "target_url", "target_secret")


def _add_missing_columns(conn: Connection, table: Table, *names: str) -> None:
    """ALTER TABLE ... ADD COLUMN for each of `names` the stored table lacks, typed as tables.py declares it
    (added columns are nullable: existing rows read NULL)."""
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in present:
            column = table.c[name]
            assert column.nullable, f"{table.name}.{name}: a column added to a table in use must be nullable"
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}")


def _add_endpoint_source(conn: Connection) -> None:
    """Version 3: the tenant an endpoint belongs to at its dispatcher (`endpoint.source`, docs/sources.md)."""
    _add_missing_columns(conn, tables.endpoint, "source")


def _add_job_options(conn: Connection) -> None:
    """Version 4: a replay job's options as JSON (`replay_job.options`: ordered, skip-superseded, where, to...)."""
    _add_missing_columns(conn, tables.replay_job, "options")


def _complete(conn: Connection) -> None:
    """Version 5: what stores of versions 2 to 4 gained without a version of their own, then created on
    first use, now made here: the version-2 tables (source cursors, alert tables, replay target attempts), the
    metrics' running totals, the (key, time, id) event indexes of replay's superseded check replacing the
    one-column ones, and on PostgreSQL the function `--where` reads payloads through."""
    _create_tables(conn, *_VERSION_2_TABLES, tables.metric_total)
    present = {i["name"] for i in inspect(conn).get_indexes("event")}
    _create_indexes(conn, tables.event, "ix_event_user_time", "ix_event_reward_time")
    for old in ("ix_event_reward", "ix_event_user"):
        if old in present:
            conn.exec_driver_sql(f"DROP INDEX {old}")
    _create_payload_reader(conn)


def _add_resolutions(conn: Connection) -> None:
    """Version 6: the resolved ("won't send") state: `delivery.resolved_at/_by/_reason`, the
    `delivery_resolution` history, and the undelivered index rebuilt to leave resolved deliveries out."""
    _add_missing_columns(conn, tables.delivery, "resolved_at", "resolved_by", "resolved_reason")
    _create_tables(conn, tables.delivery_resolution)
    present = {i["name"] for i in inspect(conn).get_indexes("delivery")}
    if "ix_delivery_undelivered" in present:  # its condition was `delivered_at IS NULL`
        conn.exec_driver_sql("DROP INDEX ix_delivery_undelivered")
    _create_indexes(conn, tables.delivery, "ix_delivery_undelivered", "ix_delivery_resolved")


def _add_gap_state(conn: Connection) -> None:
    """Version 7: the gap checks' state kept at ingest (docs/gaps.md): each delivery's scheduled attempts
    (count and highest number), the skipped-attempts index, and the missing-delivery counts, filled from the
    attempts in SQL."""
    _add_missing_columns(conn, tables.delivery, "scheduled_attempts", "scheduled_max")
    conn.exec_driver_sql(
        "UPDATE delivery SET scheduled_attempts = (SELECT COUNT(*) FROM delivery_attempt a"
        " WHERE a.event_id = delivery.event_id AND a.endpoint_id = delivery.endpoint_id"
        " AND a.trigger = 'scheduled'), scheduled_max = (SELECT COALESCE(MAX(a.attempt), 0)"
        " FROM delivery_attempt a WHERE a.event_id = delivery.event_id AND a.endpoint_id = delivery.endpoint_id"
        " AND a.trigger = 'scheduled')"
    )
    _create_tables(conn, tables.gap_hour_events, tables.gap_hour_received)
    _create_indexes(conn, tables.delivery, "ix_delivery_skipped")
    gap_counts.fill(conn)


def _add_delivery_hists(conn: Connection) -> None:
    """Version 8: per rollup bucket, histograms of the attempt number that delivered and of the time from first
    attempt to delivery (`retries_hist`, `ttd_hist`; console.store.rollup), filled from the delivered
    deliveries, grouped by the database."""
    _add_missing_columns(conn, tables.rollup_minute, "retries_hist", "ttd_hist")
    _add_missing_columns(conn, tables.rollup_hour, "retries_hist", "ttd_hist")
    for table in ("rollup_minute", "rollup_hour"):
        fill_delivery_hists(conn, table)


def _add_closed_counts(conn: Connection) -> None:
    """Version 9: what leaves the backlog per bucket (`closed_minute`, `closed_hour`; console.store.closed_counts),
    filled from the deliveries and the rollups, and an endpoint's failed attempts by time (`ix_attempt_failed`,
    what an incident touched)."""
    _create_tables(conn, tables.closed_minute, tables.closed_hour)
    closed_counts.fill(conn)
    _create_indexes(conn, tables.delivery_attempt, "ix_attempt_failed")


def _add_ordering_state(conn: Connection) -> None:
    """Version 10: the report's ordering anomalies kept at ingest (`ordering_anomaly`, console.store.ordering),
    filled from the delivered deliveries, and the partial index of deliveries acknowledged more than once."""
    _create_tables(conn, tables.ordering_anomaly)
    _create_indexes(conn, tables.delivery, "ix_delivery_duplicates")
    ordering.fill(conn, dialect_for(conn.dialect.name))


# MIGRATIONS[n] upgrades a store at version n to n + 1, inside the write transaction. It is the one way a
# store changes shape: a new table, column or index gets a step here (and its declaration in tables.py).
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _create_missing_tables,
    2: _add_endpoint_source,
    3: _add_job_options,
    4: _complete,
    5: _add_resolutions,
    6: _add_gap_state,
    7: _add_delivery_hists,
    8: _add_closed_counts,
    9: _add_ordering_state,
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
        return int(row.value)
    except (TypeError, ValueError):
        raise StoreError(
            f"the schema version in table meta is {str(row.value)[:40]!r}, not a number (was meta edited?)"
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
    source (version 3), which they read as unknown when it is absent, a job's options (version 4), read as
    those of a job stored before them, and resolutions (version 6), read as none; the gap checks need the state
    of version 7 and are left out before it; time to delivery and retries until success are read from the
    deliveries before version 8; the backlog from the deliveries and their attempts before version 9; ordering
    anomalies within the window's deliveries before version 10."""
    with store.read() as conn:
        version = _version(store, conn)
        if version is not None:
            store.dialect.payload_reader = _has_payload_reader(store, conn)
            store.dialect.endpoint_source = version >= 3
            store.dialect.resolutions = version >= 6
            store.dialect.gap_state = version >= 7
            store.dialect.delivery_hists = version >= 8
            store.dialect.closed_counts = version >= 9
            store.dialect.ordering_state = version >= 10
    if version is None:
        raise StoreError(f"no store at {file or store.display_url}; ingest first or pass --db")
    _refuse_newer(store, version)


def _has_payload_reader(store: Store, conn: Connection) -> bool:
    if store.dialect.name != "postgresql":
        return True
    found = conn.exec_driver_sql(f"SELECT to_regprocedure('{PG_DOC_FUNCTION}(bytea)')").scalar()
    return found is not None


def _create_payload_reader(conn: Connection) -> None:
    """PostgreSQL: the function `--where` reads payloads through."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(PG_DOC_DDL)


def ensure_schema(store: Store) -> None:
    """Create the tables in an empty database, upgrade an older one, refuse a newer one."""
    with store.read() as conn:
        version = _version(store, conn)
    if version is not None:
        _refuse_newer(store, version)
    if version != SCHEMA_VERSION:
        _upgrade(store)
    store.dialect.payload_reader = True  # created with the store (or by the upgrade to version 5)


def _upgrade(store: Store) -> None:
    with store.write() as conn:
        version = _version(store, conn)  # another process may have created or upgraded it meanwhile
        if version is None:
            METADATA.create_all(conn)
            _create_payload_reader(conn)
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
