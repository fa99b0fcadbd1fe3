"""A job that sends fewer than its plan said says why in the replay window (Pilot, a real receiver): a delivery
the dispatcher delivered between the plan and `y` is "delivered since the plan", not a silent difference."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.widgets import Static

from console.domain.filters import DeliveryFilter
from console.domain.replay import ReplaySelection
from console.tui.app import HookConsoleApp
from console.tui.screens.replay import ReplayScreen
from tests.helpers import log_line, write_jsonl
from tests.sandbox import EndpointSpec, IndependentReceiver, serve_app, write_endpoints
from tests.tui.conftest import ingest_into, settle

SPEC = EndpointSpec("ep_std")


async def test_the_window_names_what_was_delivered_since_the_plan(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    db = tmp_path / "since.db"
    failed = [log_line(f"evt_{i}", "ep_std", 1, status_code=503) for i in range(2)]
    ingest_into(db, write_jsonl(tmp_path / "log.jsonl", failed))
    receiver = IndependentReceiver({SPEC.id: (SPEC.scheme, SPEC.secrets[0])})
    with serve_app(receiver) as port:
        app = make_console(db=db, endpoints=write_endpoints(tmp_path, port, [SPEC]))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.push_screen(ReplayScreen(ReplaySelection(DeliveryFilter())))
            await settle(pilot)
            replay = app.screen
            assert isinstance(replay, ReplayScreen) and replay.plan is not None and replay.plan.to_send == 2
            # the dispatcher's retry of evt_0 succeeds while the operator reads the plan
            retry = log_line("evt_0", "ep_std", 2, status_code=200, attempted_at="2026-05-05T10:01:00Z")
            ingest_into(db, write_jsonl(tmp_path / "retry.jsonl", [retry]))
            await pilot.press("y")
            deadline = time.monotonic() + 30
            while replay.finished is None:
                assert time.monotonic() < deadline and replay.is_attached
                await pilot.pause(0.05)
            await settle(pilot)
            text = str(replay.query_one("#replay-plan", Static).render())
    assert "1 delivered, 0 failed" in text
    assert "1 of the 2 planned were delivered since the plan (by the dispatcher or another replay)" in text
    assert [e for (_, e) in receiver.acks] == ["evt_1"]
