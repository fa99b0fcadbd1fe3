"""Forcing from the console's replay window (Pilot, a real receiver on loopback): `f` includes already
delivered events, as `replay --force`; without a reason nothing is sent and the window says why; with one, the
job records it. Read-only mode hides the toggle."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey

from console.domain.filters import DeliveryFilter
from console.domain.replay import ReplaySelection
from console.operations import Operations
from console.store import open_store
from console.tui.app import HookConsoleApp, make_app
from console.tui.screens.replay import ReplayScreen
from tests.helpers import run
from tests.sandbox import IndependentReceiver, serve_app
from tests.tui.conftest import END, settle

REASON = "INC-7: payments lost its database, resend yesterday's"


def _delivered_pairs(db: Path, endpoint_id: str) -> tuple[tuple[str, str], ...]:
    store = open_store(str(db))
    try:
        with store.read() as conn:
            rows = conn.exec_driver_sql(
                "SELECT event_id, endpoint_id FROM delivery WHERE endpoint_id = ? AND delivered_at IS NOT NULL "
                "ORDER BY event_id LIMIT 2",
                (endpoint_id,),
            ).fetchall()
    finally:
        store.close()
    return tuple((r[0], r[1]) for r in rows)


def _jobs(db: Path) -> list[dict[str, object]]:
    listed = run("--db", str(db), "replay", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    return orjson.loads(listed.stdout)


def _text(screen: ReplayScreen, widget: str) -> str:
    return str(screen.query_one(widget, Static).render())


async def test_forcing_asks_for_a_reason_and_the_job_records_it(
    make_console: Callable[..., HookConsoleApp], sample_folder: Path, console_db: Path, tmp_path: Path
) -> None:
    secret = (sample_folder / "secrets" / "ep_payments.secret").read_text().strip()
    receiver = IndependentReceiver({"ep_payments": ("standard", secret)})
    pairs = _delivered_pairs(console_db, "ep_payments")
    assert len(pairs) == 2
    with serve_app(receiver) as port:
        text = (sample_folder / "endpoints.toml").read_text()
        text = text.replace(
            "https://payments.example.com/hooks/rewards", f"http://127.0.0.1:{port}/hooks/ep_payments"
        )
        config = tmp_path / "endpoints.toml"
        config.write_text(text.replace("file:secrets/", f"file:{sample_folder}/secrets/"))
        app = make_console(endpoints=config)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.push_screen(ReplayScreen(ReplaySelection(DeliveryFilter(), pairs=pairs)))
            await settle(pilot)
            replay = app.screen
            assert isinstance(replay, ReplayScreen) and replay.plan is not None
            assert replay.plan.to_send == 0 and replay.plan.skipped == 2  # delivered: skipped unless forced
            assert "f also sends already delivered events" in _text(replay, "#replay-plan")
            reason = replay.query_one("#replay-reason", Input)
            assert not reason.display
            assert "Force" in {k.description for k in replay.query(FooterKey)}
            await pilot.press("f")
            await settle(pilot)
            assert replay.plan is not None and replay.plan.selection.force and replay.plan.to_send == 2
            assert reason.display and reason.has_focus
            assert "Type the reason below" in _text(replay, "#replay-plan")
            await pilot.press("enter")  # no reason: refused, nothing sent, nothing recorded
            await settle(pilot)
            assert not replay.running and replay.finished is None
            assert "Not sent: a reason is required to force" in _text(replay, "#replay-outcome")
            assert _jobs(console_db) == [] and receiver.requests == []
            reason.value = REASON
            await pilot.press("enter")
            deadline = time.monotonic() + 60
            while replay.finished is None:
                assert time.monotonic() < deadline and replay.is_attached
                await pilot.pause(0.1)
            await settle(pilot)
            assert f"{2:,} delivered, 0 failed" in _text(replay, "#replay-plan")
    jobs = _jobs(console_db)
    assert len(jobs) == 1 and jobs[0]["reason"] == REASON and jobs[0]["force"] is True
    assert "@" in str(jobs[0]["operator"])  # the console's user@host
    shown = orjson.loads(run("--db", str(console_db), "replay", "show", str(jobs[0]["id"]), "--json").stdout)
    assert shown["reason"] == REASON
    assert {event for (_, event), n in receiver.acks.items() if n == 1} == {e for e, _ in pairs}


async def test_force_is_hidden_in_read_only_mode(console_db: Path, sample_folder: Path) -> None:
    ops = Operations(str(console_db), sample_folder / "endpoints.toml", clock=lambda: END)
    app = make_app(None, "", 3600.0, ops=ops, read_only=True)
    pairs = _delivered_pairs(console_db, "ep_payments")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.push_screen(
                ReplayScreen(ReplaySelection(DeliveryFilter(), pairs=pairs))
            )  # past the app's guard
            await settle(pilot)
            replay = app.screen
            assert isinstance(replay, ReplayScreen) and replay.plan is not None
            keys = {k.description for k in replay.query(FooterKey)}
            assert "Force" not in keys and "Send" not in keys and "Close" in keys
            await pilot.press("f")
            await settle(pilot)
            assert replay.plan is not None and not replay.plan.selection.force
            assert not replay.query_one("#replay-reason", Input).display
    finally:
        ops.reset()
