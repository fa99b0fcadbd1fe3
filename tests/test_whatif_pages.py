"""`whatif` reads the deliveries of its window in keyset pages: each page's query starts its index range at the
page's own start, so a page costs what its rows cost and the window is read once (not once per page), on both
stores. What a page query visits is measured by the database itself, not timed: SQLite's virtual-machine steps,
PostgreSQL's rows read by the scan (EXPLAIN ANALYZE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event

from console.analytics.whatif import run_whatif
from console.domain.times import parse_rfc3339_ms
from console.domain.whatif import parse_schedule
from console.ingest.service import ingest_sources
from console.store import Store
from tests.helpers import log_line, write_jsonl

PAGE = 25
DELIVERIES = 16 * PAGE
SINCE, UNTIL = parse_rfc3339_ms("2026-05-05T09:00:00Z"), parse_rfc3339_ms("2026-05-05T12:00:00Z")
HALF = parse_rfc3339_ms("2026-05-05T10:01:06Z")  # the first 198 deliveries


def _history(store: Store, folder: Path) -> None:
    """Deliveries at three endpoints, three first tried in each second (ties split across pages)."""
    lines = [
        log_line(
            f"evt_{i:04d}",
            f"ep_{i % 3}",
            1,
            attempted_at=f"2026-05-05T10:{i // 3 // 60:02d}:{i // 3 % 60:02d}Z",
            status_code=200 if i % 4 else 503,
        )
        for i in range(DELIVERIES)
    ]
    ingest_sources(store, [str(write_jsonl(folder / "log.jsonl", lines))])


def _queries(store: Store, until_ms: int) -> list[tuple[str, tuple[Any, ...]]]:
    """The queries over the deliveries that one `whatif` run over [SINCE, until) sends, with their parameters."""
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "first_trigger = 'scheduled'" in statement:
            seen.append((statement, tuple(parameters)))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        run_whatif(store, [parse_schedule("1m,5m")], SINCE, until_ms, page=PAGE)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return seen


def _sqlite_steps(store: Store, statement: str, parameters: tuple[Any, ...]) -> int:
    """Virtual-machine steps SQLite takes to run a statement to its end (a count of the rows it visits)."""
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0

    with store.engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.set_progress_handler(step, 1)
        try:
            driver.execute(statement, parameters).fetchall()
        finally:
            driver.set_progress_handler(None, 1)
    return steps


def _postgres_rows_read(store: Store, statement: str, parameters: tuple[Any, ...]) -> int:
    """Rows PostgreSQL's scans of `delivery` read to run a statement (kept or removed by a filter), planned as on a
    store too large for a sequential scan to pay."""
    with store.engine.connect() as conn:
        conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        raw = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters).scalar_one()
        conn.exec_driver_sql("ROLLBACK")
    plan = raw if isinstance(raw, list) else orjson.loads(raw)

    def read(node: dict[str, Any]) -> int:
        own = 0
        if node.get("Relation Name") == "delivery":
            own = int(node["Actual Rows"]) + int(node.get("Rows Removed by Filter", 0))
        return own + sum(read(child) for child in node.get("Plans", []))

    return read(plan[0]["Plan"])


def test_whatif_reads_twice_the_deliveries_at_twice_the_cost(store: Store, tmp_path: Path) -> None:
    _history(store, tmp_path)
    measure = _sqlite_steps if store.dialect.name == "sqlite" else _postgres_rows_read

    def cost(until_ms: int) -> int:
        return sum(
            measure(store, statement, parameters) for statement, parameters in _queries(store, until_ms)
        )

    half, full = cost(HALF), cost(UNTIL)
    # Linear: about 2x. Pages that each read the window from its start (or to its end) cost about 4x.
    assert full <= 2.5 * half, (half, full)
