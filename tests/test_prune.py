"""Retention on both stores: whole old deliveries go (attempts, deliveries, orphaned events), undelivered and
recent ones stay, rollups keep the history unless given their own horizon."""

from __future__ import annotations

from pathlib import Path

from console.domain.filters import DeliveryFilter
from console.domain.times import format_ms, now_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.recount import recount, stored_state
from console.store.stats import read_stats
from tests.helpers import log_line, run, table_count, write_jsonl

DAY = 86_400_000


def _seed(store: Store, tmp_path: Path) -> None:
    now = now_ms()
    old, recent = now - 100 * DAY, now - 2 * DAY
    lines = [
        log_line("evt_old_ok", "ep_a", 1, attempted_at=format_ms(old)),
        log_line("evt_old_ok", "ep_b", 1, attempted_at=format_ms(old)),
        log_line("evt_old_fail", "ep_a", 1, attempted_at=format_ms(old), status_code=503),
        log_line("evt_old_fail", "ep_a", 2, attempted_at=format_ms(old + 60_000), status_code=503),
        log_line("evt_mixed", "ep_a", 1, attempted_at=format_ms(old), status_code=503),
        log_line(
            "evt_mixed", "ep_a", 2, attempted_at=format_ms(recent)
        ),  # last attempt is recent: kept whole
        log_line("evt_new", "ep_a", 1, attempted_at=format_ms(recent)),
    ]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])


def test_prune_removes_old_delivered_deliveries_only(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    all_time = read_stats(store, DeliveryFilter()).overall
    dry = run("--db", store.url, "prune", "--older-than", "90d", "--dry-run")
    assert (
        dry.exit_code == 0
        and "2 deliveries with 2 attempts" in dry.stdout
        and "nothing was removed" in dry.stdout
    )
    assert table_count(store, "delivery_attempt") == 7
    refused = run("--db", store.url, "prune", "--older-than", "90d")
    assert refused.exit_code == 1 and "refusing to remove without --yes" in refused.stderr
    done = run("--db", store.url, "prune", "--older-than", "90d", "--yes")
    assert done.exit_code == 0, done.stderr
    assert "removed 2 deliveries, 2 attempts, 1 events, rollups kept" in done.stdout
    with store.read() as conn:
        left = sorted(conn.exec_driver_sql("SELECT event_id, endpoint_id FROM delivery").fetchall())
        events = sorted(r[0] for r in conn.exec_driver_sql("SELECT event_id FROM event"))
    assert left == [("evt_mixed", "ep_a"), ("evt_new", "ep_a"), ("evt_old_fail", "ep_a")]
    assert events == ["evt_mixed", "evt_new", "evt_old_fail"]
    assert read_stats(store, DeliveryFilter()).overall == all_time  # the rollups still hold the history
    assert (
        recount(store)["delivery"] == stored_state(store)["delivery"]
    )  # deliveries still match their attempts


def test_prune_undelivered_and_rollups_when_asked(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    result = run(
        "--db",
        store.url,
        "prune",
        "--older-than",
        "90d",
        "--include-undelivered",
        "--rollups-older-than",
        "30d",
        "--yes",
    )
    assert result.exit_code == 0, result.stderr
    assert "removed 3 deliveries, 4 attempts, 2 events" in result.stdout
    assert read_stats(store, DeliveryFilter()).overall.attempts == 2  # only the recent minutes remain
    with store.read() as conn:
        oldest = conn.exec_driver_sql("SELECT MIN(bucket) FROM rollup_hour").scalar_one()
    assert oldest * 3_600_000 > now_ms() - 31 * DAY
