"""Selections by tens of thousands of event ids (`replay --event-ids-from`) work on both stores: SQLite as
commonly built takes at most 32,766 variables in one statement and PostgreSQL 65,535 parameters, so long id
lists must not become one parameter each."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import event

from console.domain.filters import DeliveryFilter
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.deliveries import all_deliveries, count_deliveries
from tests.helpers import log_line, run, write_jsonl

WANTED = 70_000


@pytest.fixture
def default_sqlite_limits(store: Store) -> Store:
    """SQLite's default variable limit (this machine's build allows more than most)."""
    if store.dialect.name == "sqlite":

        @event.listens_for(store.engine, "connect")
        def _limit(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)

        store.engine.dispose()
    return store


def test_seventy_thousand_event_ids_select_exactly_the_stored_ones(
    default_sqlite_limits: Store, tmp_path: Path
) -> None:
    store = default_sqlite_limits
    lines = [log_line(f"evt_{i}", status_code=503) for i in range(20)]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])
    ids = tuple(f"evt_{i}" for i in range(0, 2 * WANTED, 2))  # evt_0 .. evt_18 stored (even ones), others not
    flt = DeliveryFilter(event_ids=ids)
    assert count_deliveries(store, flt) == 10
    assert sorted(r.event_id for r in all_deliveries(store, flt)) == sorted(
        f"evt_{i}" for i in range(0, 20, 2)
    )
    short = DeliveryFilter(event_ids=("evt_1", "evt_3", "nope"))
    assert count_deliveries(store, short) == 2


def test_replay_dry_run_reads_a_file_of_seventy_thousand_ids(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    lines = [log_line(f"evt_{i}", status_code=503) for i in range(5)]
    run("--db", str(db), "ingest", str(write_jsonl(tmp_path / "log.jsonl", lines)))
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(f"evt_{i}" for i in range(WANTED)) + "\n")
    config = tmp_path / "endpoints.toml"
    config.write_text(
        '[[endpoint]]\nid = "ep_a"\nurl = "https://a.example/hooks"\nscheme = "github"\nsecret = "env:A_SECRET"\n'
    )
    args = ["--db", str(db), "--endpoints", str(config), "replay", "--event-ids-from", str(ids_file)]
    result = run(*args, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    plan = orjson.loads(result.stdout)
    assert plan["to_send"] == 5
    assert sorted(item["event_id"] for item in plan["items"]) == [f"evt_{i}" for i in range(5)]
