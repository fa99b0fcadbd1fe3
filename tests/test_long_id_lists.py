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
from console.domain.outcomes import Outcome, Trigger
from console.domain.records import AttemptRecord
from console.domain.replay import ItemState, PlannedItem
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.deliveries import all_deliveries, count_deliveries
from console.store.dialect import LONG_IN_LIST
from console.store.replay_jobs import ItemResult, claim_items, create_job, record_results, renew_claims
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


def test_a_job_longer_than_an_in_list_renews_and_numbers_every_item(
    default_sqlite_limits: Store, tmp_path: Path
) -> None:
    """Claims renewed and attempts numbered for a job of more items than a short IN list takes (the long ones
    go as one array parameter, Dialect.in_list)."""
    store = default_sqlite_limits
    n = 2 * LONG_IN_LIST + 7
    events = [f"evt_{i:05d}" for i in range(n)]
    lines = [log_line(e, status_code=503) for e in events]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])
    now = 1_780_000_000_000
    items = [PlannedItem(e, "ep_a", "reward.redeemed", now, 503, False) for e in events]
    create_job(store, "job_long", "test", False, 4, items, now)
    batch = claim_items(store, "job_long", n, 1_000, now, False)
    keys = [(c.event_id, c.endpoint_id) for c in batch.claimed]
    assert len(keys) == n
    assert renew_claims(store, "job_long", keys, now + 60_000) == set(keys)
    with store.read() as conn:
        renewed = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM delivery WHERE claim_job = 'job_long' AND claim_until = 1780000060000"
        ).scalar_one()
    assert renewed == n
    sent = AttemptRecord(
        "", "reward.redeemed", "ep_a", 1, now + 1, Outcome.SUCCESS, 200, 5.0, None, Trigger.MANUAL, "job_long"
    )
    results = [ItemResult(e, ep, ItemState.DELIVERED, (sent._replace(event_id=e),), 200) for e, ep in keys]
    record_results(store, "job_long", results, now + 2)
    with store.read() as conn:
        numbers = conn.exec_driver_sql(
            "SELECT attempt, COUNT(*) FROM delivery_attempt WHERE trigger = 'manual' GROUP BY attempt"
        ).fetchall()
    assert [tuple(r) for r in numbers] == [(2, n)]  # each after its delivery's stored attempt 1
