"""The replay window's Impact line covers exactly what will be sent (Pilot): one redemption to two endpoints is
counted once, and `s` (skip superseded) recounts users, rewards and money without what it leaves out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import Static

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ReplaySelection
from console.tui.app import HookConsoleApp
from console.tui.screens.replay import ReplayScreen
from tests.helpers import write_jsonl
from tests.sandbox import EndpointSpec, write_endpoints
from tests.test_replay_impact_per_event import SUPERSEDED_HISTORY
from tests.tui.conftest import ingest_into, settle

LINES = SUPERSEDED_HISTORY  # one redemption to two endpoints, superseded at one of them


def _impact_line(screen: ReplayScreen) -> str:
    text = str(screen.query_one("#replay-plan", Static).render())
    return next(line for line in text.splitlines() if line.startswith("Impact:"))


async def test_s_recounts_the_impact_line_by_hand(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    db = tmp_path / "impact.db"
    ingest_into(db, write_jsonl(tmp_path / "log.jsonl", LINES))
    config = write_endpoints(tmp_path, 9, [EndpointSpec(f"ep_{n}") for n in range(4)])
    app = make_console(db=db, endpoints=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.push_screen(ReplayScreen(ReplaySelection(DeliveryFilter(state=DeliveryState.UNDELIVERED))))
        await settle(pilot)
        replay = app.screen
        assert isinstance(replay, ReplayScreen) and replay.plan is not None
        assert replay.plan.to_send == 4
        # by hand: evt_red (u1, r1, 500 INR, once for its two endpoints), evt_old (u2, r2, 70 EUR), evt_x (u3, r3,
        # 5 EUR)
        assert _impact_line(replay).startswith("Impact: 3 users, 3 rewards; 75 EUR, 500 INR; events ")
        await pilot.press("s")
        await settle(pilot)
        assert replay.plan is not None and replay.plan.selection.skip_superseded
        assert replay.plan.to_send == 2
        # by hand: evt_red still goes to ep_1 (500 INR), evt_x (5 EUR); evt_old is left out
        assert _impact_line(replay).startswith("Impact: 2 users, 2 rewards; 5 EUR, 500 INR; events ")
        await pilot.press("s")
        await settle(pilot)
        assert _impact_line(replay).startswith("Impact: 3 users, 3 rewards; 75 EUR, 500 INR;")
