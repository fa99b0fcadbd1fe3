"""Store upkeep on both stores: planner statistics after an ingest that grows the store, space given back by
prune (SQLite's file shrinks; PostgreSQL's pruned tables are vacuumed, so re-inserting reuses their space)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from console.domain.times import format_ms, now_ms
from console.ingest.service import ingest_sources
from console.store import Store, open_store
from console.store.upkeep import needs_analyze
from tests.helpers import log_line, run, write_jsonl

DAY = 86_400_000


def _lines(prefix: str, count: int, at_ms: int) -> list[dict[str, object]]:
    payload = {"reward": "x" * 400}
    return [
        log_line(f"{prefix}_{i}", "ep_a", 1, attempted_at=format_ms(at_ms + i), payload=payload)
        for i in range(count)
    ]


def _ingest(store: Store, path: Path, lines: list[dict[str, object]]) -> None:
    ingest_sources(store, [str(write_jsonl(path, lines))])


def _planner_rows(store: Store) -> float:
    with store.read() as conn:
        if store.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'delivery_attempt'"
            ).fetchall()
            return max(float(r[0].split()[0]) for r in rows) if rows else 0.0
        return float(
            conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass('delivery_attempt')"
            ).scalar_one()
        )


def test_large_ingest_into_a_fresh_store_leaves_planner_statistics(store: Store, tmp_path: Path) -> None:
    _ingest(store, tmp_path / "log.jsonl", _lines("evt", 300, now_ms() - DAY))
    assert _planner_rows(store) == 300


def test_analyze_only_when_an_ingest_grows_the_store_by_a_tenth() -> None:
    assert needs_analyze(None, 1) and needs_analyze(1000, 101)
    assert not needs_analyze(1000, 100) and not needs_analyze(None, 0)


def _checkpointed_size(file: Path) -> int:
    with sqlite3.connect(file) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return os.path.getsize(file)


def _seed_old_and_recent(store: Store, tmp_path: Path) -> None:
    now = now_ms()
    _ingest(store, tmp_path / "old.jsonl", _lines("old", 600, now - 100 * DAY))
    _ingest(store, tmp_path / "new.jsonl", _lines("new", 1400, now - DAY))


def test_prune_shrinks_a_sqlite_file(sqlite_store: Store, tmp_path: Path) -> None:
    _seed_old_and_recent(sqlite_store, tmp_path)
    file = tmp_path / "store.db"
    before = _checkpointed_size(file)
    done = run("--db", sqlite_store.url, "prune", "--older-than", "90d", "--yes")
    assert done.exit_code == 0, done.stderr
    assert "removed 600 deliveries" in done.stdout and "--vacuum" not in done.stdout
    assert os.path.getsize(file) < before * 0.85


def test_prune_vacuum_switches_an_old_sqlite_store_to_incremental(tmp_path: Path) -> None:
    file = tmp_path / "store.db"
    with sqlite3.connect(file) as conn:  # a store created before incremental vacuum: the file exists already
        conn.execute("PRAGMA journal_mode = WAL")
    store = open_store(f"sqlite:///{file}")
    try:
        _seed_old_and_recent(store, tmp_path)
        before = _checkpointed_size(file)
        plain = run("--db", store.url, "prune", "--older-than", "90d", "--yes")
        assert plain.exit_code == 0 and "run prune once with --vacuum" in plain.stdout
        assert os.path.getsize(file) >= before  # pages freed but kept in the file
        vacuumed = run("--db", store.url, "prune", "--older-than", "90d", "--yes", "--vacuum")
        assert vacuumed.exit_code == 0 and "store vacuumed" in vacuumed.stdout, vacuumed.stderr
        assert os.path.getsize(file) < before * 0.85
        with sqlite3.connect(file) as conn:
            assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # later prunes shrink it themselves
    finally:
        store.close()


def _relation_size(store: Store, table: str) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql(f"SELECT pg_relation_size('{table}')").scalar_one())


def test_prune_vacuums_postgres_tables_so_reinserts_reuse_space(pg_database_url: str, tmp_path: Path) -> None:
    # A database of its own: another test's open transaction in the shared one would keep the pruned rows.
    store = open_store(pg_database_url)
    try:
        _seed_old_and_recent(store, tmp_path)
        full = _relation_size(store, "delivery_attempt")
        done = run("--db", store.url, "prune", "--older-than", "90d", "--yes")
        assert done.exit_code == 0 and "removed 600 deliveries" in done.stdout, done.stderr
        with store.read() as conn:
            unvacuumed = conn.exec_driver_sql(
                "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
                "AND relname IN ('delivery_attempt', 'delivery', 'event') AND last_vacuum IS NULL"
            ).fetchall()
        assert unvacuumed == []
        _ingest(store, tmp_path / "again.jsonl", _lines("again", 600, now_ms() - DAY))
        assert _relation_size(store, "delivery_attempt") <= full * 1.05  # the pruned rows' space was reused
    finally:
        store.close()
