"""The independent recount (console/store/recount.py) finds the figures of a known log, and a derived table
changed behind the writer's back."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.domain.times import MS_PER_MINUTE, parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.recount import recount, verify_derived_state
from tests.helpers import log_line, write_jsonl

AT = "2026-05-05T10:00:00Z"


def _ingest(store: Store, tmp_path: Path) -> None:
    lines = [
        log_line("evt_1", "ep_a", 1, status_code=503, latency_ms=30.0, attempted_at=AT),
        log_line("evt_1", "ep_a", 2, status_code=200, latency_ms=10.0, attempted_at="2026-05-05T10:00:20Z"),
        log_line("evt_2", "ep_a", 1, status_code=None, latency_ms=None, error="connection refused"),
    ]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])


def test_recount_of_a_known_log(store: Store, tmp_path: Path) -> None:
    _ingest(store, tmp_path)
    counted = recount(store)
    at = parse_rfc3339_ms(AT)
    delivery = counted["delivery"][("evt_1", "ep_a")]
    assert delivery[:4] == (2, 1, 2, at) and delivery[-4:] == (
        at + 20_000,
        2,
        2,
        2,
    )  # delivered; scheduled 2, max 2
    minute = counted["rollup_minute"][(at // MS_PER_MINUTE, "ep_a", "reward.redeemed", "scheduled")]
    # attempts, successes, http errors, timeouts, network errors, first attempts, first successes,
    # deliveries, delivered, latency count, latency sum
    assert minute[:11] == [3, 1, 1, 0, 1, 2, 0, 2, 1, 2, 40.0]
    failures = counted["failure_minute"]
    assert failures[(at // MS_PER_MINUTE, "ep_a", "reward.redeemed", 503, "")] == (1, at)
    assert verify_derived_state(store) == []


@pytest.mark.parametrize(
    ("table", "change"),
    [
        ("delivery", "UPDATE delivery SET attempts = attempts + 1 WHERE event_id = 'evt_1'"),
        ("rollup_hour", "UPDATE rollup_hour SET first_successes = first_successes + 1"),
        ("failure_minute", "UPDATE failure_minute SET count = count + 1"),
    ],
)
def test_a_changed_derived_table_is_found(store: Store, tmp_path: Path, table: str, change: str) -> None:
    _ingest(store, tmp_path)
    with store.write() as conn:
        conn.exec_driver_sql(change)
    problems = verify_derived_state(store)
    assert problems and all(p.startswith(f"{table} ") for p in problems)
