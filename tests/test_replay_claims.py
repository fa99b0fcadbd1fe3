"""Two operators' jobs on the same selection while the first one's sends outlive the claim lease (short leases
here; 10 minutes by default): every event is acknowledged once and every attempt either job made is stored."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import JobView, ReplaySelection
from console.endpoints import load_endpoints
from console.ingest.service import ingest_sources
from console.replay.plan import resolve_targets
from console.replay.runner import JobRunner, RunOptions
from console.replay.service import ReplayService
from console.store import Store, open_store
from console.store.recount import verify_derived_state
from tests.helpers import log_line, write_jsonl
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints

STANDARD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EVENTS = [f"evt_{i}" for i in range(3)]
LEASE_MS = 2000  # ten heartbeats: a loaded machine may stall one or two


def manual_attempts(store: Store) -> list[tuple[Any, ...]]:
    with store.read() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(
                "SELECT event_id, attempt, status_code, replay_job_id FROM delivery_attempt "
                "WHERE trigger = 'manual' ORDER BY event_id, attempt"
            )
        ]


def two_jobs(store: Store, folder: Path, first: RunOptions) -> tuple[IndependentReceiver, JobView, JobView]:
    """Job A starts; its first answers say 503 Retry-After 5 s, longer than the lease. Job B, on the same
    selection and another connection to the store (another operator), starts once A's lease would be over."""
    lines = [log_line(e, "ep_std", n, status_code=503) for e in EVENTS for n in (1, 2)]
    ingest_sources(store, [str(write_jsonl(folder / "log.jsonl", lines))])
    receiver = IndependentReceiver({"ep_std": ("standard", STANDARD)})
    for event in EVENTS:
        receiver.status_script[event] = [(503, {"retry-after": "5"})]  # B has 2.2 s to claim
    with serve_app(receiver) as port:
        config = load_endpoints(
            write_endpoints(folder, port, [EndpointSpec("ep_std", "standard", (STANDARD,))])
        )
        service = ReplayService(store, config)
        plan = service.plan(ReplaySelection(DeliveryFilter(state=DeliveryState.UNDELIVERED)))
        job_a, job_b = service.create_job(plan), service.create_job(plan)
        targets = resolve_targets(config, ["ep_std"], base_s=0.01, cap_s=0.02)
        other = open_store(store.url)

        async def both() -> tuple[JobView, JobView]:
            a = asyncio.ensure_future(JobRunner(store, job_a, targets, False, first).run())
            await asyncio.sleep(LEASE_MS / 1000 * 1.4)
            assert not a.done()
            b = asyncio.ensure_future(
                JobRunner(other, job_b, targets, False, RunOptions(lease_ms=LEASE_MS)).run()
            )
            return await asyncio.wait_for(asyncio.gather(a, b), 30)

        try:
            view_a, view_b = asyncio.run(both())
        finally:
            other.close()
    return receiver, view_a, view_b


def test_a_send_that_outlives_the_lease_keeps_its_claim(store: Store, tmp_path: Path) -> None:
    receiver, view_a, view_b = two_jobs(store, tmp_path, RunOptions(lease_ms=LEASE_MS, heartbeat_s=0.2))
    assert all(receiver.acks[("ep_std", e)] == 1 for e in EVENTS), receiver.acks
    assert view_a.counts == {"delivered": 3}
    assert view_b.counts == {"skipped": 3}  # B waited for A's renewed claims, then found them delivered
    stored = manual_attempts(store)
    assert [(e, n, code) for e, n, code, _ in stored] == [
        (e, n, c) for e in EVENTS for n, c in ((3, 503), (4, 200))
    ]
    assert {job for *_, job in stored} == {view_a.id}
    assert verify_derived_state(store) == []


def test_a_runner_that_lost_its_claim_does_not_send_again(store: Store, tmp_path: Path) -> None:
    # A runner whose heartbeat could not renew its claims in time (a stalled loop, a store that was away):
    # before its next try it sees B holds the delivery now, and gives the item back instead of sending it.
    receiver, view_a, view_b = two_jobs(
        store, tmp_path, RunOptions(lease_ms=LEASE_MS, heartbeat_s=0.2, renew_claims=False)
    )
    assert all(receiver.acks[("ep_std", e)] == 1 for e in EVENTS), receiver.acks
    assert view_b.counts == {"delivered": 3}
    assert view_a.counts == {"skipped": 3}  # given back, then found delivered by B
    stored = manual_attempts(store)
    # B's success was written first (attempt 3); A's 503 was numbered after it when written, not dropped.
    assert [(e, n, code) for e, n, code, _ in stored] == [
        (e, n, c) for e in EVENTS for n, c in ((3, 200), (4, 503))
    ]
    assert {(n, job) for _, n, _, job in stored} == {(3, view_b.id), (4, view_a.id)}
    assert verify_derived_state(store) == []
