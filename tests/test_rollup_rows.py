"""`iter_rollups` gives each rollup row with its bucket's start in ms (computed by the database as BIGINT), the
same on SQLite and PostgreSQL, and its counts add up to the attempts stored in the window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE, parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.sandbox.sample import generate
from console.store import open_store, tables
from console.store.aggregates import iter_rollups

END = parse_rfc3339_ms("2026-11-01T00:00:00Z")
SINCE, UNTIL = END - 6 * MS_PER_HOUR, END - MS_PER_HOUR


def _rows(url: str, log: Path, hourly: bool) -> tuple[list[tuple[Any, ...]], int]:
    store = open_store(url)
    try:
        ingest_sources(store, [str(log)])
        rows = list(iter_rollups(store, SINCE, UNTIL, (), (), hourly))
        a = tables.delivery_attempt
        window = (a.c.attempted_at >= SINCE, a.c.attempted_at < UNTIL)
        with store.read() as conn:
            stored = int(conn.execute(select(func.count()).select_from(a).where(*window)).scalar_one())
        return rows, stored
    finally:
        store.close()


@pytest.mark.parametrize("hourly", [True, False], ids=["hour", "minute"])
def test_rollup_rows_start_at_their_bucket_on_both_databases(
    tmp_path: Path, pg_schema_url: str, hourly: bool
) -> None:
    log = generate(tmp_path, events=800, days=0.5, seed=5, end_ms=END).path
    width = MS_PER_HOUR if hourly else MS_PER_MINUTE
    on_sqlite, stored = _rows(str(tmp_path / "store.db"), log, hourly)
    on_postgres, _ = _rows(pg_schema_url, log, hourly)
    assert stored > 100
    assert sum(int(attempts) for _start, _endpoint, attempts, *_ in on_sqlite) == stored
    for start, endpoint_id, *_ in on_sqlite:
        assert isinstance(start, int) and start % width == 0 and SINCE <= start < UNTIL, (start, endpoint_id)
    assert sorted(on_sqlite, key=repr) == sorted(on_postgres, key=repr)
