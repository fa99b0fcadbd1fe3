"""A replay plan holds what it shows, whatever the selection's size: its counts and preview come from SQL, it
keeps only its first items, and a job made from it gets every item of the selection from the store itself
(INSERT ... SELECT), in plan order and with the reasons the plan gives, on SQLite and PostgreSQL."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ReplaySelection
from console.endpoints import load_endpoints
from console.ingest.service import ingest_sources
from console.operations import Operations
from console.replay.plan import ALREADY_DELIVERED, HELD, SHOWN_SENDING
from console.replay.service import ReplayService
from console.store import Store
from console.store import replay_jobs as journal
from tests.helpers import log_line, run, write_jsonl
from tests.sandbox import EndpointSpec, write_endpoints
from tests.test_replay_impact import HISTORY, OTHER, SPEC, seed


def _deliveries(store: Store, folder: Path, delivered: int, failed: int) -> None:
    """`delivered` deliveries then `failed` ones, one a second, at two endpoints."""
    lines = [
        log_line(
            f"evt_{i:05d}",
            f"ep_{i % 2}",
            1,
            attempted_at=f"2026-05-05T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            status_code=200 if i < delivered else 503,
        )
        for i in range(delivered + failed)
    ]
    ingest_sources(store, [str(write_jsonl(folder / "log.jsonl", lines))])


def _service(store: Store, folder: Path) -> ReplayService:
    config = write_endpoints(folder, 9, [EndpointSpec("ep_0"), EndpointSpec("ep_1")])
    return ReplayService(store, load_endpoints(config))


def test_planning_four_times_the_deliveries_holds_no_more_memory(store: Store, tmp_path: Path) -> None:
    _deliveries(store, tmp_path, 0, 4000)
    service = _service(store, tmp_path)
    undelivered = DeliveryFilter(state=DeliveryState.UNDELIVERED)

    def peak(selection: ReplaySelection) -> tuple[int, int]:
        service.plan(selection)  # caches (compiled statements, connections) warm
        tracemalloc.start()
        try:
            plan = service.plan(selection)
            return plan.to_send, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    (small, small_peak), (large, large_peak) = (
        peak(ReplaySelection(undelivered, limit=1000)),
        peak(ReplaySelection(undelivered)),
    )
    assert (small, large) == (1000, 4000)
    # Holding every planned item, the peak grows with the selection: about 4x here.
    assert large_peak <= 1.25 * small_peak, (small_peak, large_peak)


def test_a_large_plan_keeps_its_first_items_and_its_job_gets_them_all(store: Store, tmp_path: Path) -> None:
    _deliveries(store, tmp_path, 120, 130)  # the first HELD items are all delivered: skipped
    service = _service(store, tmp_path)
    selection = ReplaySelection(DeliveryFilter(state=DeliveryState.ANY))
    assert service.plan(selection).first_to_send == ()  # the command line does not look past its first items
    ops = Operations(store.url, tmp_path / "endpoints.toml")  # the console does: it names the first to send
    try:
        plan = ops.plan_replay(selection)
    finally:
        ops.reset()
    assert (plan.total, plan.to_send, plan.skipped) == (250, 130, 120)
    assert [i.event_id for i in plan.items] == [f"evt_{i:05d}" for i in range(HELD)]
    assert all(i.skip_reason == ALREADY_DELIVERED for i in plan.items)
    assert [i.event_id for i in plan.first_to_send] == [
        f"evt_{i:05d}" for i in range(120, 120 + SHOWN_SENDING)
    ]
    assert [(e.endpoint_id, e.to_send, e.skipped) for e in plan.endpoints] == [
        ("ep_0", 65, 60),
        ("ep_1", 65, 60),
    ]
    job_id = service.create_job(plan)
    view = service.job(job_id)
    assert (view.total, view.counts) == (250, {"skipped": 120, "pending": 130})
    items = service.items(job_id, limit=1000)
    assert [i.event_id for i in items] == [f"evt_{i:05d}" for i in range(250)]  # plan order
    assert {i.last_error for i in items[:120]} == {ALREADY_DELIVERED} and {
        i.last_error for i in items[120:]
    } == {None}
    config = tmp_path / "endpoints.toml"
    text = run("--db", store.url, "--endpoints", str(config), "replay", "--status", "any", "--dry-run")
    assert text.exit_code == 0, text.stderr
    assert "replay plan: 130 to send, 120 skipped, 2 endpoints" in text.stdout
    assert "  ... and 240 more" in text.stdout


VARIANTS: list[dict[str, Any]] = [
    {},
    {"skip_superseded": True},
    {"force": True, "skip_superseded": True},
    {"ordered": True, "skip_superseded": True},
    {"limit": 4, "skip_superseded": True},
    {"limit": 4, "force": True, "ordered": True},
    {"pairs": (("evt_red", "ep_std"), ("evt_u3", "ep_gh"), ("evt_rev", "ep_std")), "skip_superseded": True},
]


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: ",".join(o) or "default")
def test_a_job_inserted_in_sql_holds_the_items_the_plan_lists(
    store: Store, tmp_path: Path, options: dict[str, Any]
) -> None:
    """On a small selection a plan lists every item: the job the store fills from the selection must hold the
    same items, in the same order, skipped for the same reasons, as one made from that list."""
    seed(store, tmp_path, HISTORY)
    service = ReplayService(store, load_endpoints(write_endpoints(tmp_path, 9, [SPEC, OTHER])))
    selection = ReplaySelection(DeliveryFilter(state=DeliveryState.ANY), **options)
    plan = service.plan(selection)
    assert plan.total == len(plan.items) > 0
    from_sql = service.create_job(plan)
    journal.create_job(store, "rj_listed", "listed", plan.selection.force, 1, plan.items, 0)

    def rows(job_id: str) -> list[tuple[Any, ...]]:
        with store.read() as conn:
            return [
                tuple(r)
                for r in conn.exec_driver_sql(
                    "SELECT position, event_id, endpoint_id, state, last_error FROM replay_item "
                    f"WHERE job_id = '{job_id}' ORDER BY position"
                )
            ]

    assert rows(from_sql) == rows("rj_listed")
    assert service.job(from_sql).total == plan.total
    unforced = service.plan(replace(selection, force=False, skip_superseded=False))
    assert unforced.skipped == sum(1 for i in unforced.items if i.skip_reason)


def test_a_job_takes_no_live_traffic_newer_than_its_plan(store: Store, tmp_path: Path) -> None:
    """ "Select all" then `y`: a job once took the deliveries that failed between the plan and the confirmation
    too (the console showed 2 to send and sent 4); now only those first tried by the plan's newest."""
    lines = [
        log_line(f"evt_{i}", "ep_std", 1, attempted_at=f"2026-05-05T10:0{i}:00Z", status_code=503)
        for i in range(2)
    ]
    ingest_sources(store, [str(write_jsonl(tmp_path / "a.jsonl", lines))])
    service = ReplayService(store, load_endpoints(write_endpoints(tmp_path, 9, [SPEC])))
    plan = service.plan(ReplaySelection(DeliveryFilter(state=DeliveryState.UNDELIVERED)))
    assert plan.to_send == 2
    later = [
        log_line(f"evt_late_{i}", "ep_std", 1, attempted_at=f"2026-05-05T11:0{i}:00Z", status_code=503)
        for i in range(2)
    ]
    ingest_sources(store, [str(write_jsonl(tmp_path / "b.jsonl", later))])
    job = service.job(service.create_job(plan))
    assert job.total == 2
    assert sorted(journal_items(store, job.id)) == ["evt_0", "evt_1"]


def journal_items(store: Store, job_id: str) -> list[str]:
    with store.read() as conn:
        p = store.dialect.placeholder
        return [
            r[0]
            for r in conn.exec_driver_sql(f"SELECT event_id FROM replay_item WHERE job_id = {p}", (job_id,))
        ]
