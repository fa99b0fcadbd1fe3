"""Replay under hostile receivers and faults, on SQLite and PostgreSQL, over loopback: a NUL byte in an answer,
a result the store refuses, a non-ASCII event id, an unexpected error in a worker, a 410 endpoint, and a stop
while requests are in flight. Nothing acknowledged is sent again, nothing is lost, no job hangs."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

import console.delivery
import console.signing
from console import aio
from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ReplaySelection
from console.endpoints import load_endpoints
from console.ingest.service import ingest_sources
from console.replay.runner import RunOptions
from console.replay.service import ReplayService
from console.sandbox.receiver import Faults, Receiver
from console.store import Store
from console.store import replay_jobs as journal
from console.store.recount import verify_derived_state
from tests.helpers import item_states, log_line, replay_cli, run, run_process, start_replay, write_jsonl
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints

STANDARD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC = EndpointSpec("ep_std", "standard", (STANDARD,))


def seed(store: Store, folder: Path, event_ids: list[str], endpoint_id: str = "ep_std") -> None:
    lines = [log_line(e, endpoint_id, 1, status_code=503) for e in event_ids]
    ingest_sources(store, [str(write_jsonl(folder / "log.jsonl", lines))])


@contextmanager
def sandbox(
    folder: Path, faults: Faults, specs: list[EndpointSpec] | None = None
) -> Iterator[tuple[Receiver, Path]]:
    """The sandbox receiver with `faults` on loopback, and an endpoints.toml pointing at it."""
    specs = specs or [SPEC]
    receiver = Receiver(load_endpoints(write_endpoints(folder, 1, specs)), faults)
    with serve_app(receiver) as port:
        yield receiver, write_endpoints(folder, port, specs)


def manual_attempts(store: Store) -> list[tuple[Any, ...]]:
    with store.read() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(
                "SELECT event_id, attempt, status_code, response_excerpt, error FROM delivery_attempt "
                "WHERE trigger = 'manual' ORDER BY event_id, attempt"
            )
        ]


def test_a_nul_byte_in_the_answer_does_not_leave_acknowledged_items_to_resend(
    store: Store, tmp_path: Path
) -> None:
    events = [f"evt_{i}" for i in range(4)]
    seed(store, tmp_path, events)
    with sandbox(tmp_path, Faults(nul_body=True)) as (receiver, config):
        first = replay_cli(store, config, "--yes", "--json")
        again = replay_cli(store, config, "--yes", "--json")
        acks = receiver.stats()["endpoints"]["ep_std"]["acks"]
    assert first.exit_code == 0, first.stderr + first.stdout
    assert orjson.loads(first.stdout)["counts"]["delivered"] == 4
    assert again.exit_code == 0 and orjson.loads(again.stdout)["to_send"] == 0
    assert acks == {e: 1 for e in events}
    stored = manual_attempts(store)
    assert len(stored) == 4 and all("\ufffd" in (r[3] or "") and "\x00" not in (r[3] or "") for r in stored)
    assert set(item_states(store).values()) == {"delivered"}
    assert verify_derived_state(store) == []


def test_a_result_the_store_refuses_loses_nothing_else(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No real peer can make the store refuse a sanitised result, so the refusal is injected here.
    events = [f"evt_{i}" for i in range(6)]
    seed(store, tmp_path, events)
    real = journal.record_results

    def refuse_poison(s: Store, job_id: str, results: Any, now: int, target_url: str | None = None) -> None:
        if any(a.event_id == "evt_3" and a.response_excerpt for r in results for a in r.attempts):
            raise RuntimeError("text fields cannot contain this")
        real(s, job_id, results, now, target_url)

    monkeypatch.setattr(journal, "record_results", refuse_poison)
    with sandbox(tmp_path, Faults()) as (receiver, config):
        first = replay_cli(store, config, "--yes", "--json")
        again = replay_cli(store, config, "--yes", "--json")
        acks = receiver.stats()["endpoints"]["ep_std"]["acks"]
    assert first.exit_code == 0, first.stderr + first.stdout
    assert orjson.loads(first.stdout)["counts"]["delivered"] == 6
    assert orjson.loads(again.stdout)["to_send"] == 0
    assert acks == {e: 1 for e in events}
    assert set(item_states(store).values()) == {"delivered"}
    stored = {r[0]: r for r in manual_attempts(store)}
    assert set(stored) == set(events) and stored["evt_3"][3] is None and stored["evt_0"][3]
    with store.read() as conn:
        note = conn.exec_driver_sql(
            "SELECT last_error FROM replay_item WHERE event_id = 'evt_3'"
        ).scalar_one()
    assert "stored without response text" in note
    assert verify_derived_state(store) == []


def test_a_non_ascii_event_id_is_delivered_and_the_job_ends(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, ["evt_é", "evt_plain"])
    receiver = IndependentReceiver({"ep_std": ("standard", STANDARD)})
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, [SPEC])
        done = run_process(
            "--db", store.url, "--endpoints", str(config), "replay", "--yes", "--json", timeout=60
        )
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["counts"]["delivered"] == 2
    assert receiver.rejected == []
    assert dict(receiver.acks) == {("ep_std", "evt_%C3%A9"): 1, ("ep_std", "evt_plain"): 1}


def test_an_unexpected_error_fails_that_item_not_the_worker(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An error no peer can cause (a bug in signing, say) is injected for one event.
    seed(store, tmp_path, [f"evt_{i}" for i in range(5)])
    real_sign = console.signing.sign  # the function console.delivery calls

    def broken(scheme: str, secrets: Any, msg_id: str, *rest: Any) -> dict[str, str]:
        if msg_id == "evt_2":
            raise ValueError("cannot sign this one")
        return real_sign(scheme, secrets, msg_id, *rest)

    monkeypatch.setattr(console.delivery, "sign", broken)
    with sandbox(tmp_path, Faults()) as (receiver, config):
        service = ReplayService(store, load_endpoints(config))
        job_id = service.create_job(service.plan(ReplaySelection(DeliveryFilter(), concurrency=1)))
        view = asyncio.run(asyncio.wait_for(service.start(job_id).run(), 30))
        acks = receiver.stats()["endpoints"]["ep_std"]["acks"]
    assert view.counts == {"delivered": 4, "failed": 1}
    assert set(acks) == {"evt_0", "evt_1", "evt_3", "evt_4"}
    [item] = [i for i in service.items(job_id) if i.event_id == "evt_2"]
    assert item.state.value == "failed" and "ValueError: cannot sign this one" in (item.reason or "")


def test_a_410_stops_new_sends_at_once(store: Store, tmp_path: Path) -> None:
    events = [f"evt_{i}" for i in range(8)]
    seed(store, tmp_path, events)
    receiver = IndependentReceiver({"ep_std": ("standard", STANDARD)}, latency_s=0.05)
    for event in events:
        receiver.status_script[event] = [(410, {})]
    with serve_app(receiver) as port:
        config = write_endpoints(tmp_path, port, [SPEC])
        result = replay_cli(store, config, "--concurrency", "10", "--yes", "--json")
    job = orjson.loads(result.stdout)
    assert result.exit_code == 1 and job["counts"]["failed"] == 8
    assert len(receiver.requests) == 1  # the first answer paused the endpoint; nothing else went out
    reasons = {r["reason"]: r["items"] for r in job["reasons"]}
    assert reasons["circuit breaker: ep_std answered 410 Gone; paused for this job"] == 7


@pytest.mark.parametrize("fault", ["hanging", "retry-after"])
def test_a_stop_ends_in_flight_sends_within_a_second_and_the_job_resumes(
    store: Store, tmp_path: Path, fault: str
) -> None:
    events = [f"evt_{i}" for i in range(3)]
    seed(store, tmp_path, events)
    faults = (
        Faults(timeout_rate=1.0)
        if fault == "hanging"
        else Faults(fail_rate=1.0, status=503, retry_after_s=120)
    )
    # A hanging endpoint holds its first request (the others wait for its answer); a 503 answers them all.
    in_flight = 1 if fault == "hanging" else 3
    spec = EndpointSpec("ep_std", "standard", (STANDARD,), {"timeout_s": 50})
    with sandbox(tmp_path, faults, [spec]) as (receiver, config):
        service = ReplayService(store, load_endpoints(config))
        job_id = service.create_job(service.plan(ReplaySelection(DeliveryFilter(), concurrency=3)))
        job = service.start(job_id)
        with ThreadPoolExecutor(1) as worker:  # as in the console: the job runs on a thread of its own
            running = worker.submit(lambda: aio.run(job.run()))
            deadline = time.monotonic() + 10
            while receiver.stats()["received"] < in_flight and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
            assert not running.done() and not job.stopped
            stopped_at = time.monotonic()
            job.stop()  # from this thread, not the job's: the first waits for the requests in flight
            job.stop()  # the second abandons them
            view = running.result(timeout=30)
            took = time.monotonic() - stopped_at
        assert receiver.stats()["received"] == in_flight
    assert took < 1.0, took
    assert job.stopped
    assert view.state.value == "interrupted" and view.counts == {"pending": 3}
    assert len(manual_attempts(store)) == in_flight  # each try that went out is recorded
    with sandbox(tmp_path, Faults()) as (receiver, config):
        resumed = replay_cli(store, config, "resume", job_id, "--yes", "--json")
        acks = receiver.stats()["endpoints"]["ep_std"]["acks"]
    assert resumed.exit_code == 0, resumed.stderr
    assert orjson.loads(resumed.stdout)["counts"]["delivered"] == 3 and acks == {e: 1 for e in events}
    assert verify_derived_state(store) == []


def test_a_stop_before_the_run_sends_nothing_and_leaves_the_job_resumable(
    store: Store, tmp_path: Path
) -> None:
    seed(store, tmp_path, ["evt_1", "evt_2"])
    with sandbox(tmp_path, Faults()) as (receiver, config):
        service = ReplayService(store, load_endpoints(config))
        job = service.start(service.create_job(service.plan(ReplaySelection(DeliveryFilter()))))
        job.stop()  # `x` pressed while the console was still getting the job ready
        view = asyncio.run(asyncio.wait_for(job.run(), 30))
        assert receiver.stats()["received"] == 0
        assert view.state.value == "interrupted" and view.counts == {"pending": 2}
        service.prepare_resume(job.job_id)
        resumed = asyncio.run(asyncio.wait_for(service.start(job.job_id).run(), 30))
    assert resumed.counts == {"delivered": 2} and job.stopped


def test_runner_options_reach_the_runner(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, ["evt_1"])
    with sandbox(tmp_path, Faults()) as (_, config):
        service = ReplayService(store, load_endpoints(config))
        job_id = service.create_job(service.plan(ReplaySelection(DeliveryFilter(state=DeliveryState.ANY))))
        job = service.start(job_id, options=RunOptions(lease_ms=1234), concurrency=2)
        view = asyncio.run(job.run())
    assert job.runner.options.lease_ms == 1234 and job.runner.options.concurrency == 2
    assert view.counts == {"delivered": 1}


def test_ctrl_c_stops_the_command_within_a_second_and_leaves_the_job_resumable(
    store: Store, tmp_path: Path
) -> None:
    seed(store, tmp_path, [f"evt_{i}" for i in range(3)])
    spec = EndpointSpec("ep_std", "standard", (STANDARD,), {"timeout_s": 50})
    with sandbox(tmp_path, Faults(timeout_rate=1.0), [spec]) as (receiver, config):  # every request hangs
        process = start_replay(store, config, "--yes")
        try:
            deadline = time.monotonic() + 30
            while receiver.stats()["received"] < 1:
                assert process.poll() is None and time.monotonic() < deadline, (
                    "the replay did not start sending"
                )
                time.sleep(0.02)
            time.sleep(0.2)
            interrupted_at = time.monotonic()
            process.send_signal(signal.SIGINT)  # waits for the hanging request...
            time.sleep(0.3)
            assert process.poll() is None
            process.send_signal(signal.SIGINT)  # ...until the second abandons it
            process.wait(timeout=30)
            took = time.monotonic() - interrupted_at
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 130, process.stderr.read().decode() if process.stderr else ""
    assert took < 1.8, took
    [job] = orjson.loads(run("--db", store.url, "replay", "list", "--json").stdout)
    assert job["state"] == "interrupted" and job["counts"]["pending"] == 3


@pytest.mark.parametrize("how", ["handle", "ctrl-c"])
def test_a_first_stop_lets_the_requests_in_flight_end_and_records_them(
    store: Store, tmp_path: Path, how: str
) -> None:
    """Ctrl-C once abandoned a request the receiver had already answered 200, and `resume` sent it again (22
    requests for 21 deliveries): the first stop now waits for the requests in flight and records them."""
    events = [f"evt_{i}" for i in range(6)]
    seed(store, tmp_path, events)
    with sandbox(tmp_path, Faults(latency_ms=800)) as (receiver, config):
        if how == "ctrl-c":
            process = start_replay(store, config, "--yes", "--concurrency", "2")
            try:
                deadline = time.monotonic() + 30
                while receiver.stats()["received"] < 3:  # the first alone, then two at once
                    assert process.poll() is None and time.monotonic() < deadline
                    time.sleep(0.02)
                process.send_signal(signal.SIGINT)
                process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            assert process.returncode == 130
            stderr = process.stderr.read().decode() if process.stderr else ""
            assert "stopping: waiting for 2 request(s) in flight (Ctrl-C again abandons them)" in stderr
            [listed] = orjson.loads(run("--db", store.url, "replay", "list", "--json").stdout)
            job_id = listed["id"]
        else:
            service = ReplayService(store, load_endpoints(config))
            job_id = service.create_job(service.plan(ReplaySelection(DeliveryFilter(), concurrency=2)))
            job = service.start(job_id)
            with ThreadPoolExecutor(1) as worker:
                running = worker.submit(lambda: aio.run(job.run()))
                deadline = time.monotonic() + 30
                while receiver.stats()["received"] < 3 and time.monotonic() < deadline:
                    time.sleep(0.02)
                job.stop()
                running.result(timeout=30)
        sent_first = receiver.stats()["received"]
        states = item_states(store)
        assert list(states.values()).count("delivered") == sent_first == 3
        assert list(states.values()).count("pending") == len(events) - 3
        resumed = replay_cli(store, config, "resume", job_id, "--yes", "--json")
        acks = receiver.stats()["endpoints"]["ep_std"]["acks"]
    assert resumed.exit_code == 0, resumed.stderr
    assert acks == {e: 1 for e in events}  # none twice
    assert len(manual_attempts(store)) == len(events)
    assert verify_derived_state(store) == []


def test_results_stored_by_a_commit_the_client_never_heard_of_are_not_stored_twice(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection cut as COMMIT goes out: the server stored the group, the client saw an error and wrote each
    item again (3,010 successful attempts for 3,000 sends). The cut cannot be timed on demand, so the first
    group's commit is followed by the error such a cut raises."""
    from sqlalchemy.exc import OperationalError

    events = [f"evt_{i}" for i in range(8)]
    seed(store, tmp_path, events)
    real = journal.record_results
    cut: list[int] = []

    def commit_then_cut(s: Store, job_id: str, results: Any, now: int, target_url: str | None = None) -> None:
        real(s, job_id, results, now, target_url)
        if not cut and len(results) > 1:
            cut.append(len(results))
            raise OperationalError("COMMIT", None, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(journal, "record_results", commit_then_cut)
    with sandbox(tmp_path, Faults()) as (receiver, config):
        first = replay_cli(store, config, "--yes", "--json", "--concurrency", "8")
        acks = receiver.stats()["endpoints"]["ep_std"]["acks"]
    assert first.exit_code == 0, first.stderr + first.stdout
    assert cut, "no group of results was written at once"
    assert acks == {e: 1 for e in events}
    assert sorted(r[0] for r in manual_attempts(store)) == events
    assert set(item_states(store).values()) == {"delivered"}
    assert verify_derived_state(store) == []
