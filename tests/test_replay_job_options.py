"""A replay job's options are stored as data with it: a resume reads them, never the selection's text; the
per-endpoint counts of a run add up to the job's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ItemState, JobOptions, ReplaySelection
from console.domain.where import Where
from console.endpoints import load_endpoints
from console.ingest.service import ingest_sources
from console.replay.runner import RunProgress
from console.replay.service import ReplayService
from console.store import Store, open_store
from tests.helpers import log_line, run, write_jsonl
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints

STANDARD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOTE = "a; ordered; b"  # a `--where` value that reads like the job's own "; ordered" option


def _failed_events(store: Store, folder: Path, endpoints: tuple[str, ...], count: int) -> None:
    lines = []
    for n in range(count):
        first = log_line(f"evt_{n}", endpoints[0], 1, status_code=500)
        first["payload"]["note"] = NOTE
        lines.append(first)
        lines += [
            log_line(f"evt_{n}", e, 1, status_code=500, payload=first["payload"]) for e in endpoints[1:]
        ]
    ingest_sources(store, [str(write_jsonl(folder / "failed.jsonl", lines))])


def _service(store: Store, folder: Path, endpoints: tuple[str, ...], port: int = 9) -> ReplayService:
    specs = [EndpointSpec(e, "standard", (STANDARD,)) for e in endpoints]
    return ReplayService(store, load_endpoints(write_endpoints(folder, port, specs)))


def _selection(ordered: bool) -> ReplaySelection:
    where = DeliveryFilter(state=DeliveryState.UNDELIVERED, where=Where.parse(f'note = "{NOTE}"'))
    return ReplaySelection(where, ordered=ordered, skip_superseded=True)


def test_a_job_resumes_with_its_stored_options_not_its_text(store: Store, tmp_path: Path) -> None:
    _failed_events(store, tmp_path, ("ep_a",), 2)
    service = _service(store, tmp_path, ("ep_a",))
    plain = service.create_job(service.plan(_selection(ordered=False)))
    ordered = service.create_job(service.plan(_selection(ordered=True)))
    view = service.job(plain)
    assert "; ordered; " in view.selection and view.total == 2  # the where text reads like the option
    assert view.options == JobOptions(skip_superseded=True, where=f'note = "{NOTE}"')
    assert service.job(ordered).options == JobOptions(
        ordered=True, skip_superseded=True, where=f'note = "{NOTE}"'
    )
    assert service.start(plain).runner.ordered is False
    assert service.start(ordered).runner.ordered is True


def test_a_store_before_job_options_is_read_as_it_is_and_keeps_its_jobs(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    try:
        _failed_events(store, tmp_path, ("ep_a",), 2)
        service = _service(store, tmp_path, ("ep_a",))
        job_id = service.create_job(service.plan(_selection(ordered=True)))
        with store.write() as conn:  # as version 3 made it: jobs without their options
            conn.exec_driver_sql("ALTER TABLE replay_job DROP COLUMN options")
            conn.exec_driver_sql("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    finally:
        store.close()
    shown = run("--read-only", "--db", store_url, "replay", "show", job_id, "--json")
    assert shown.exit_code == 0, shown.stderr
    assert orjson.loads(shown.stdout)["id"] == job_id
    upgraded = open_store(store_url)
    try:
        with upgraded.read() as conn:
            assert conn.exec_driver_sql("SELECT options FROM replay_job").all() == [(None,)]
        service = _service(upgraded, tmp_path, ("ep_a",))
        assert service.job(job_id).options is None
        assert service.start(job_id).runner.ordered is True  # an older job: as its text says, as before
    finally:
        upgraded.close()


def test_per_endpoint_skipped_counts_equal_the_jobs(store: Store, tmp_path: Path) -> None:
    endpoints = ("ep_a", "ep_b")
    _failed_events(store, tmp_path, endpoints, 4)
    receiver = IndependentReceiver({e: ("standard", STANDARD) for e in endpoints})
    with serve_app(receiver) as port:
        service = _service(store, tmp_path, endpoints, port)
        # named events (as `replay EVT...` selects them): delivered ones are kept in the job, skipped
        named = DeliveryFilter(state=DeliveryState.ANY, event_ids=tuple(f"evt_{n}" for n in range(4)))
        plan = service.plan(ReplaySelection(named))
        assert (plan.total, plan.skipped) == (8, 0)
        # Another console delivers three of them between this plan and the job.
        delivered = [("evt_0", "ep_a"), ("evt_1", "ep_a"), ("evt_2", "ep_b")]
        lines = [
            log_line(e, ep, 2, status_code=200, attempted_at="2026-05-05T10:05:00Z") for e, ep in delivered
        ]
        ingest_sources(store, [str(write_jsonl(tmp_path / "other.jsonl", lines))])
        job_id = service.create_job(plan)
        seen: list[RunProgress] = []
        handle = service.start(job_id, on_progress=seen.append)
        view = asyncio.run(asyncio.wait_for(handle.run(), 30))
    assert view.count(ItemState.SKIPPED) == 3 and view.count(ItemState.DELIVERED) == 5
    job = {e.endpoint_id: (e.count(ItemState.DELIVERED), e.count(ItemState.SKIPPED)) for e in view.endpoints}
    assert job == {"ep_a": (2, 2), "ep_b": (3, 1)}
    progress = seen[-1].endpoints
    assert {e: (c.delivered, c.skipped) for e, c in progress.items()} == job
    assert seen[-1].done == view.total
