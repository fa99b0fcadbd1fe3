"""The event screen with a big payload and the copy-as-curl fallback; worker failures reach the operator
(one handler in the app) and leave every screen usable; an unwritable reports folder is not a store problem."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from textual.widgets import Static

from console.domain.times import format_ms
from console.operations import Operations
from console.tui.app import HookConsoleApp
from console.tui.screens.event import PREVIEW_BYTES, EventScreen
from console.tui.screens.replay import ReplayScreen
from tests.helpers import log_line, write_jsonl
from tests.tui.conftest import END, ingest_into, settle


def _shown(widget: Static) -> str:
    return "".join(widget.render_line(y).text for y in range(widget.size.height))


async def test_a_big_payload_shows_its_start_and_size_and_s_saves_it_whole(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = orjson.dumps({"event_id": "evt_big", "blob": ["x" * 1000 + f"{i:06d}" for i in range(5000)]})
    assert len(payload) > 5_000_000
    write_jsonl(
        tmp_path / "big.jsonl",
        [log_line("evt_big", "ep_a", payload=payload.decode(), attempted_at=format_ms(END - 60_000))],
    )
    db = tmp_path / "big.db"
    ingest_into(db, tmp_path / "big.jsonl")
    monkeypatch.chdir(tmp_path)
    app = make_console(db=db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        started = time.monotonic()
        app.show_event("evt_big")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EventScreen) and screen.detail is not None
        assert time.monotonic() - started < 10
        view = screen.query_one("#payload", Static)
        shown = _shown(view)
        assert f"payload {len(payload) / 2**20:.1f} MiB: the first 64.0 KiB shown" in shown
        assert str(tmp_path / "reports").replace(" ", "") in shown.replace(" ", "")  # the path may wrap
        assert len(shown) < 3 * PREVIEW_BYTES and f"{4999:06d}" not in shown
        await pilot.press("s")
        await settle(pilot)
        saved = tmp_path / "reports" / "payload-evt_big.json"
        assert saved.read_bytes() == payload
        assert str(saved) in str(screen.query_one("#check-result", Static).render())


async def test_curl_goes_to_a_file_when_the_terminal_refuses_the_clipboard(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOOKCONSOLE_NO_CLIPBOARD", "1")
    app = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EventScreen) and screen.detail is not None
        await pilot.press("c")
        await settle(pilot)
        (written,) = (tmp_path / "reports").glob("curl-*.sh")
        assert "openssl dgst" in written.read_text() and screen.detail.event_id in written.read_text()
        shown = str(screen.query_one("#check-result", Static).render())
        assert "refuses the clipboard" in shown and str(written) in shown
        assert app.clipboard == ""
        first = written.read_text()
        # the same event for another endpoint: a file of its own (it once overwrote the first)
        other = next(e for e in ("ep_crm", "ep_payments", "ep_fraud") if e not in written.name)
        screen.make_curl(screen.detail, other)
        await settle(pilot)
        files = sorted((tmp_path / "reports").glob("curl-*.sh"))
        assert len(files) == 2 and written.read_text() == first
        assert any(f.name.endswith(f"-{other}.sh") for f in files)


async def test_a_store_error_during_a_replay_is_shown_and_the_window_can_close(
    make_console: Callable[..., HookConsoleApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No real store fails half-way through a job on cue: the run itself raises (a mock on the error path)."""
    from sqlalchemy.exc import OperationalError

    async def broken_run(self: object) -> None:
        raise OperationalError("UPDATE replay_item", {}, Exception("database is locked"))

    app = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        monkeypatch.setattr("console.replay.handle.JobHandle.run", broken_run)
        await pilot.press("enter", "a", "r", "y")
        await settle(pilot)
        replay = app.screen
        assert isinstance(replay, ReplayScreen) and not replay.running and replay.finished is None
        assert "database is locked" in str(replay.query_one("#replay-outcome", Static).render())
        assert app.store_problem == "database is locked"
        await pilot.press("escape")
        assert not isinstance(app.screen, ReplayScreen)


async def test_an_unexpected_worker_error_is_shown_once_in_the_app(
    make_console: Callable[..., HookConsoleApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_plan(self: object, selection: object) -> None:
        raise RuntimeError("planner bug")

    app = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        monkeypatch.setattr(Operations, "plan_replay", broken_plan)
        await pilot.press("enter", "a", "r")
        await settle(pilot)
        replay = app.screen
        assert isinstance(replay, ReplayScreen)
        assert "RuntimeError: planner bug" in str(replay.query_one("#replay-outcome", Static).render())
        assert [n.message for n in app._notifications if "planner bug" in n.message]
        await pilot.press("escape")
        assert not isinstance(app.screen, ReplayScreen) and app.is_running


async def test_an_unwritable_reports_folder_is_not_a_store_problem(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports").write_text("a file where the folder should be")
    app = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.store_problem is None and app.sub_title == ""
        messages = [n.message for n in app._notifications]
        assert any("cannot write the report in" in m and str(tmp_path / "reports") in m for m in messages)
