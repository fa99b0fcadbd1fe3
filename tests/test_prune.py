"""Retention on both stores: whole old deliveries go (attempts, deliveries, orphaned events), undelivered and
recent ones stay, rollups keep the history unless given their own horizon."""

from __future__ import annotations

from pathlib import Path

from console.domain.filters import DeliveryFilter
from console.domain.replay import JobOrigin, JobState, PlannedItem
from console.domain.times import format_ms, now_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.store import replay_jobs as journal
from console.store.prune import prune
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


def _target_attempts(store: Store) -> list[tuple[str, str]]:
    with store.read() as conn:
        rows = conn.exec_driver_sql("SELECT job_id, event_id FROM replay_target_attempt").fetchall()
    return sorted((r[0], r[1]) for r in rows)


def test_prune_removes_old_attempts_sent_to_other_targets(store: Store, tmp_path: Path) -> None:
    """`replay --to` attempts older than the cutoff go with the rest, unless their job may still run."""
    _seed(store, tmp_path)
    now = now_ms()
    old, recent = now - 100 * DAY, now - 2 * DAY
    item = PlannedItem("evt_old_ok", "ep_a", "reward.redeemed", old, 200, True)
    for job_id, state in (("rj_done", JobState.DONE), ("rj_paused", JobState.INTERRUPTED)):
        journal.create_job(store, job_id, "ep_a", True, 1, [item], old, JobOrigin("ops", "staging check"))
        journal.set_job_state(store, job_id, state, old)
    sent = [
        ("rj_done", "evt_old_ok", old),  # old, finished job: goes
        ("rj_done", "evt_old_fail", old + 1),  # goes too (its delivery is undelivered and stays)
        ("rj_done", "evt_new", recent),  # recent: stays
        ("rj_paused", "evt_old_ok", old),  # old, but its job can be resumed: stays
    ]
    _insert_target_attempts(store, sent, "success")
    dry = run("--db", store.url, "prune", "--older-than", "90d", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "2 attempts sent to other targets (--to)" in dry.stdout and len(_target_attempts(store)) == 4
    done = run("--db", store.url, "prune", "--older-than", "90d", "--yes")
    assert done.exit_code == 0, done.stderr
    assert (
        "removed 2 deliveries, 2 attempts, 1 events, 2 attempts sent to other targets (--to)" in done.stdout
    )
    assert _target_attempts(store) == [("rj_done", "evt_new"), ("rj_paused", "evt_old_ok")]
    again = run("--db", store.url, "prune", "--older-than", "90d", "--yes")
    assert "other targets" not in again.stdout  # named only when there are some


def _insert_target_attempts(store: Store, rows: list[tuple[str, str, int]], outcome: str) -> None:
    """Attempts sent to another target (`--to`): (job, event, attempted at) each, at endpoint ep_a."""
    with store.write() as conn:
        p = store.dialect.placeholder
        conn.exec_driver_sql(
            "INSERT INTO replay_target_attempt (job_id, event_id, endpoint_id, target_url, attempt, "
            f"attempted_at, outcome) VALUES ({p}, {p}, 'ep_a', 'http://127.0.0.1:9/x', 1, {p}, '{outcome}')",
            rows,
        )


def test_prune_target_attempts_in_batches(store: Store) -> None:
    now = now_ms()
    journal.create_job(store, "rj_x", "ep_a", False, 1, [], now, JobOrigin("ops"))
    journal.set_job_state(store, "rj_x", JobState.FAILED, now)
    rows = [("rj_x", f"evt_{i}", now - 100 * DAY + i) for i in range(7)]
    _insert_target_attempts(store, rows, "timeout")
    result = prune(store, now - 90 * DAY, batch=3)
    assert result.target_attempts == 7 and _target_attempts(store) == []
