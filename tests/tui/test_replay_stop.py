"""`x` in the replay window stops a job whose receiver never answers: the first `x` waits for the request in
flight (and says a second abandons it), the second ends it within a second, the job ends interrupted with every
item pending, and a resume delivers each event once."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from console.domain.filters import DeliveryFilter
from console.domain.replay import ReplaySelection
from console.endpoints import load_endpoints
from console.ingest.service import ingest_sources
from console.replay.service import ReplayService
from console.sandbox.receiver import Faults, Receiver
from console.store import open_store
from console.tui.app import HookConsoleApp
from console.tui.screens.replay import ReplayScreen
from tests.helpers import log_line, write_jsonl
from tests.sandbox import EndpointSpec, serve_app, write_endpoints
from tests.tui.conftest import settle

STANDARD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC = EndpointSpec("ep_std", "standard", (STANDARD,), {"timeout_s": 50})
EVENTS = [f"evt_{i}" for i in range(3)]


def _served(folder: Path, faults: Faults) -> tuple[Receiver, Callable[[int], Path]]:
    receiver = Receiver(load_endpoints(write_endpoints(folder, 1, [SPEC])), faults)
    return receiver, lambda port: write_endpoints(folder, port, [SPEC])


async def test_x_stops_a_hanging_replay_within_a_second_and_the_job_resumes(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    db = tmp_path / "stop.db"
    store = open_store(str(db))
    lines = [log_line(e, "ep_std", 1, status_code=503) for e in EVENTS]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])
    store.close()
    receiver, config = _served(tmp_path, Faults(timeout_rate=1.0))  # every request hangs
    with serve_app(receiver) as port:
        app = make_console(db=db, endpoints=config(port))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.push_screen(ReplayScreen(ReplaySelection(DeliveryFilter(), concurrency=3)))
            await settle(pilot)
            replay = app.screen
            assert isinstance(replay, ReplayScreen) and replay.plan is not None and replay.plan.to_send == 3
            await pilot.press("y")
            deadline = time.monotonic() + 20
            while receiver.stats()["received"] < 1:  # the first request to an endpoint goes alone
                assert time.monotonic() < deadline, "the replay did not start sending"
                await pilot.pause(0.02)
            await pilot.pause(0.2)
            assert replay.running and replay.finished is None and replay.job is not None
            await pilot.press("x")
            await pilot.pause(0.3)
            outcome = str(replay.query_one("#replay-outcome").render())
            assert "stopping after the requests in flight... (x again abandons them)" in outcome
            assert replay.running and replay.finished is None  # the hanging request is waited for
            stopped_at = time.monotonic()
            await pilot.press("x")
            while replay.finished is None:
                assert time.monotonic() - stopped_at < 20, "the stop did not end the job"
                await pilot.pause(0.02)
            took = time.monotonic() - stopped_at
            await settle(pilot)
        assert receiver.stats()["received"] == 1
    assert took < 1.0, took
    assert replay.job.stopped
    view = replay.finished
    assert view.state.value == "interrupted" and view.counts == {"pending": 3}
    receiver, config = _served(tmp_path, Faults())
    store = open_store(str(db))
    try:
        with serve_app(receiver) as port:
            service = ReplayService(store, load_endpoints(config(port)))
            service.prepare_resume(view.id)
            resumed = await service.start(view.id).run()
    finally:
        store.close()
    assert resumed.counts == {"delivered": 3}
    assert receiver.stats()["endpoints"]["ep_std"]["acks"] == {e: 1 for e in EVENTS}
