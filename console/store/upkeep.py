"""Store upkeep: planner statistics after ingests that grow the store, and disk space given back after prune.

Statistics: an ingest that adds more than a tenth of the attempts the planner knows of (or any attempts to a
store never analysed) runs `ANALYZE` on the tables ingest writes. The planner's own count is the baseline
(SQLite's `sqlite_stat1`, PostgreSQL's `pg_class.reltuples`), so nothing is counted to decide.

Space: SQLite stores are created with `auto_vacuum = INCREMENTAL` (see engine); after prune,
`PRAGMA incremental_vacuum` returns the freed pages and a checkpoint shrinks the file. A store created before
needs one full `VACUUM` (`prune --vacuum`) to switch. PostgreSQL: `VACUUM` of the pruned tables after the
batched deletes (outside any transaction), so their space is reused; `VACUUM FULL` with `prune --vacuum`.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from console.store.engine import Store

INGEST_TABLES = (
    "delivery_attempt",
    "delivery",
    "event",
    "rollup_minute",
    "rollup_hour",
    "failure_minute",
    "closed_minute",
    "closed_hour",
    "endpoint",
)
PRUNED_TABLES = ("delivery_attempt", "delivery", "event", "replay_target_attempt")
ROLLUP_TABLES = ("rollup_minute", "rollup_hour", "failure_minute", "closed_minute", "closed_hour")
GROWTH_SHARE = 0.10  # ANALYZE once an ingest adds more than this share of the known attempts
FULL_VACUUM_MEMORY_KB = (
    512 * 1024
)  # PostgreSQL's maintenance_work_mem for VACUUM FULL, at least (64MB default)
SQLITE_ANALYSIS_LIMIT = 1000  # rows of each index SQLite's ANALYZE reads: bounded time on any store size


def known_attempts(store: Store) -> int | None:
    """The attempts the planner's statistics know of; None when the store was never analysed."""
    with store.engine.connect() as conn:
        if store.dialect.name == "sqlite":
            return _sqlite_known_rows(conn, "delivery_attempt")
        value = conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass('delivery_attempt')"
        ).scalar()
    return None if value is None or value <= 0 else int(value)


def _sqlite_known_rows(conn: Connection, table: str) -> int | None:
    has_stats = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).first()
    if has_stats is None:
        return None
    stats = conn.exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE tbl = ?", (table,)).fetchall()
    counts = [int(str(s[0]).split()[0]) for s in stats if s[0]]
    return max(counts) if counts else None


def needs_analyze(known: int | None, added: int) -> bool:
    """Whether `added` attempts change a table the planner knows `known` attempts of by more than a tenth."""
    if added <= 0:
        return False
    return known is None or added > known * GROWTH_SHARE


def analyze(store: Store, tables: tuple[str, ...] = INGEST_TABLES) -> None:
    """Refresh the planner's statistics of `tables` (SQLite reads a bounded sample of each index)."""
    if store.dialect.name == "sqlite":
        with store.write() as conn:
            conn.exec_driver_sql(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
            for table in tables:
                conn.exec_driver_sql(f"ANALYZE {table}")
        return
    with store.engine.connect() as conn:  # autocommit: one short statement, no transaction held
        conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")


def analyze_if_grown(store: Store, known: int | None, added: int) -> bool:
    """ANALYZE the ingest tables when `added` attempts grew the store by more than a tenth; True if it ran."""
    if not needs_analyze(known, added):
        return False
    analyze(store)
    return True


def give_space_back(store: Store, tables: tuple[str, ...], full: bool = False) -> None:
    """After prune: SQLite returns free pages to the file system (a full VACUUM with `full`, which also turns
    incremental vacuum on for a store created without it); PostgreSQL vacuums `tables` (VACUUM FULL with
    `full`, which rewrites them and holds an exclusive lock while it runs)."""
    if store.dialect.name == "sqlite":
        _sqlite_space_back(store, full)
        return
    verb = "VACUUM (FULL, ANALYZE)" if full else "VACUUM (ANALYZE)"
    with store.engine.connect() as conn:  # the engine is autocommit: VACUUM cannot run in a transaction
        if full:  # the rewrite rebuilds every index: sorts in memory, not in runs on disk (never lowered)
            conn.exec_driver_sql(
                f"SELECT set_config('maintenance_work_mem', '{FULL_VACUUM_MEMORY_KB}kB', false) FROM pg_settings"
                f" WHERE name = 'maintenance_work_mem' AND setting::bigint < {FULL_VACUUM_MEMORY_KB}"
            )
        try:
            conn.exec_driver_sql(f"{verb} {', '.join(tables)}")
        finally:
            if full:
                conn.exec_driver_sql("RESET maintenance_work_mem")


def sqlite_incremental(store: Store) -> bool:
    """Whether a SQLite store gives pages back incrementally (created with auto_vacuum = INCREMENTAL)."""
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA auto_vacuum").scalar_one()) == 2


def _sqlite_space_back(store: Store, full: bool) -> None:
    with store.engine.connect() as conn:
        # The driver connection is autocommit (VACUUM needs no open transaction); executescript steps a
        # statement to its end, and incremental_vacuum frees one page per step.
        driver = conn.connection.driver_connection
        assert driver is not None
        (auto_vacuum,) = driver.execute("PRAGMA auto_vacuum").fetchone()
        if full:
            driver.executescript("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
        elif int(auto_vacuum) == 2:
            driver.executescript("PRAGMA incremental_vacuum;")
        driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # the file shrinks at the checkpoint
