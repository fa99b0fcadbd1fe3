"""The console driven by Pilot: every screen, the whole replay flow against a real receiver on loopback, live
refresh from another process, the store going away and coming back, and payloads shown literally."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ReplaySelection
from console.domain.times import format_ms, now_ms
from console.domain.where import Where
from console.store import open_store
from console.store.stats import read_stats
from console.tui.app import HookConsoleApp
from console.tui.screens.dashboard import DashboardScreen
from console.tui.screens.deliveries import DeliveriesScreen
from console.tui.screens.event import EventScreen
from console.tui.screens.help import HelpScreen
from console.tui.screens.jobs import JobsScreen
from console.tui.screens.replay import ReplayScreen
from console.tui.widgets.endpoints_table import EndpointsTable
from console.tui.widgets.kpi import KpiTile
from tests.helpers import log_line, write_jsonl
from tests.sandbox import IndependentReceiver, serve_app
from tests.tui.conftest import END, ingest_into, settle

EUR_OVER_1000 = 'currency = "EUR" and amount >= 1000'


def _cell_text(table: DataTable[Any], row: str, column: str) -> str:
    return str(table.get_cell(row, column))


def _ingest_in_another_process(db: Path, log: Path, lines: list[dict[str, object]]) -> None:
    """`hookconsole ingest` of `lines` (written to `log`) in a separate process, as an operator would run it."""
    write_jsonl(log, lines)
    subprocess.run(
        [sys.executable, "-m", "console", "--db", str(db), "ingest", str(log)],
        check=True,
        capture_output=True,
    )


async def test_dashboard_figures_windows_and_pause(
    make_console: Callable[..., HookConsoleApp], console_db: Path
) -> None:
    app = make_console()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen) and screen.window == "1h"
        await pilot.press("3")
        await settle(pilot)
        store = open_store(str(console_db))
        expected = read_stats(store, DeliveryFilter(since_ms=END - 86_400_000))
        store.close()
        table = screen.query_one(EndpointsTable)
        assert table.row_count == len(expected.endpoints)
        giftcards = next(e for e in expected.endpoints if e.endpoint_id == "ep_giftcards")
        assert _cell_text(table, "ep_giftcards", "attempts") == f"{giftcards.kpis.attempts:,}"
        assert _cell_text(table, "ep_giftcards", "undeliv") == f"{giftcards.kpis.undelivered:,}"
        first = screen.query_one("#tile-first", KpiTile).query_one(".value", Static)
        rate = expected.overall.first_attempt_success_rate
        assert rate is not None and str(first.render()) == f"{rate * 100:.1f}%"
        assert screen.query_one("#failures", DataTable).row_count > 0
        assert screen.active_bindings["p"].binding.description == "Pause"
        await pilot.press("p")
        assert screen.paused and "paused" in str(screen.query_one("#status-line", Static).render())
        assert screen.active_bindings["p"].binding.description == "Resume"
        await pilot.press("p")
        assert not screen.paused and screen.active_bindings["p"].binding.description == "Pause"
        table.move_cursor(row=table.get_row_index("ep_giftcards"))
        await pilot.press("enter")
        await settle(pilot)
        explorer = app.screen
        assert isinstance(explorer, DeliveriesScreen)
        assert (
            explorer.filter.endpoint_ids == ("ep_giftcards",) and explorer.filter.state.value == "undelivered"
        )


async def test_live_refresh_reads_attempts_written_by_another_process(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    db = tmp_path / "live.db"
    start = now_ms()
    write_jsonl(tmp_path / "a.jsonl", [log_line("evt_a", "ep_live", attempted_at=format_ms(start - 60_000))])
    ingest_into(db, tmp_path / "a.jsonl")
    app = make_console(db=db, clock=now_ms, refresh_s=0.2)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EndpointsTable)
        assert _cell_text(table, "ep_live", "attempts") == "1"
        lines = [
            log_line(f"evt_b{i}", "ep_live", attempted_at=format_ms(now_ms() - 1000), status_code=503)
            for i in range(3)
        ]
        _ingest_in_another_process(db, tmp_path / "b.jsonl", lines)
        deadline = time.monotonic() + 15
        while _cell_text(table, "ep_live", "attempts") != "4":
            assert time.monotonic() < deadline, "the dashboard did not pick up the new attempts"
            await pilot.pause(0.1)
        assert _cell_text(table, "ep_live", "failed") == "3"
        assert app.screen.query_one("#failures", DataTable).row_count == 3


async def test_store_goes_away_and_comes_back(
    make_console: Callable[..., HookConsoleApp], console_db: Path
) -> None:
    app = make_console(refresh_s=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.store_problem is None
        moved = console_db.with_suffix(".away")
        console_db.rename(moved)
        deadline = time.monotonic() + 10
        while app.store_problem is None:
            assert time.monotonic() < deadline
            await pilot.pause(0.1)
        assert "is gone" in app.store_problem and app.sub_title == "store unavailable"
        moved.rename(console_db)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        screen.load(force=True)
        while app.store_problem is not None:
            assert time.monotonic() < deadline + 10
            await pilot.pause(0.1)
        assert app.sub_title == ""


async def test_deliveries_filter_select_and_event_detail(make_console: Callable[..., HookConsoleApp]) -> None:
    app = make_console()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.show_deliveries(endpoint_id="ep_giftcards", state="undelivered")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DeliveriesScreen)
        assert screen.total is not None and screen.total > 0
        assert all(r.endpoint_id == "ep_giftcards" and not r.delivered for r in screen.rows.values())
        await pilot.press("space")
        assert len(screen.selected) == 1
        await pilot.press("a")
        assert screen.all_matching and f"all {screen.total:,} matching" in str(
            screen.query_one("#selection-line", Static).render()
        )
        await pilot.press("c")
        assert not screen.all_matching and not screen.selected
        table = screen.query_one("#deliveries", DataTable)
        table.post_message(
            DataTable.HeaderSelected(table, table.columns["event"].key, 2, table.columns["event"].label)
        )
        await settle(pilot)
        shown = [str(table.get_cell_at(Coordinate(i, 2))) for i in range(table.row_count)]
        assert shown == sorted(shown) and screen.sort_column == "event"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EventScreen)
        detail = app.screen.detail
        assert detail is not None and any(a.endpoint_id == "ep_giftcards" for a in detail.attempts)
        await pilot.press("escape")
        assert isinstance(app.screen, DeliveriesScreen)


async def test_payload_markup_and_control_characters_shown_literally(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    db = tmp_path / "hostile.db"
    nasty = "[bold red]pwned[/] \x1b[31m \x07 [link=http://x]y[/link]"
    payload = orjson.dumps({"event_id": "evt_x", "user_id": nasty, "note": nasty}).decode()
    write_jsonl(
        tmp_path / "h.jsonl",
        [log_line("evt_x", "ep_[red]x[/red]", payload=payload, attempted_at=format_ms(END - 60_000))],
    )
    ingest_into(db, tmp_path / "h.jsonl")
    app = make_console(db=db)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EndpointsTable)
        assert str(table.get_cell("ep_[red]x[/red]", "endpoint")) == "ep_[red]x[/red]"
        app.show_event("evt_x")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EventScreen)
        fields = str(screen.query_one("#event-fields", Static).render())
        assert "[bold red]pwned[/] \\x1b[31m \\x07 [link=http://x]y[/link]" in fields
        assert "\x1b" not in fields and "\x07" not in fields


async def test_replay_flow_against_a_real_receiver(
    make_console: Callable[..., HookConsoleApp], sample_folder: Path, console_db: Path, tmp_path: Path
) -> None:
    secrets = {p.stem: p.read_text().strip() for p in (sample_folder / "secrets").glob("*.secret")}
    schemes = {
        "ep_payments": "standard",
        "ep_inventory": "standard",
        "ep_crm": "stripe",
        "ep_analytics": "github",
        "ep_fraud": "standard",
        "ep_giftcards": "stripe",
    }
    receiver = IndependentReceiver({e: (schemes[e], s) for e, s in secrets.items()})
    with serve_app(receiver) as port:
        text = (sample_folder / "endpoints.toml").read_text()
        for endpoint in schemes:
            host = endpoint.removeprefix("ep_")
            text = text.replace(
                f"https://{host}.example.com/hooks/rewards", f"http://127.0.0.1:{port}/hooks/{endpoint}"
            )
        config = tmp_path / "endpoints.toml"
        config.write_text(text.replace("file:secrets/", f"file:{sample_folder}/secrets/"))
        app = make_console(endpoints=config)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            dashboard = app.screen
            assert isinstance(dashboard, DashboardScreen)
            before = _cell_text(dashboard.query_one(EndpointsTable), "ep_giftcards", "undeliv")
            assert int(before) > 0
            await pilot.press("j")
            await settle(pilot)
            assert "no replay jobs yet" in str(app.screen.query_one("#jobs-note", Static).render())
            await pilot.press("d")
            await settle(pilot)
            # The target: from the dashboard, the endpoint that is down is first; `enter a r y` replays it,
            # typed ahead of the plan.
            await pilot.press("enter", "a", "r", "y")
            replay = app.screen
            assert isinstance(replay, ReplayScreen)
            deadline = time.monotonic() + 60
            while replay.finished is None:
                assert time.monotonic() < deadline and replay.is_attached
                await pilot.pause(0.1)
            await settle(pilot)
            assert replay.plan is not None and [e.endpoint_id for e in replay.plan.endpoints] == [
                "ep_giftcards"
            ]
            expected = replay.plan.to_send
            assert expected == int(before)
            table = replay.query_one("#replay-endpoints", DataTable)
            for planned in replay.plan.endpoints:  # the job's per-endpoint counts, as the plan had them
                assert str(table.get_cell(planned.endpoint_id, "skipped")) == f"{planned.skipped:,}"
                assert str(table.get_cell(planned.endpoint_id, "delivered")) == f"{planned.to_send:,}"
            outcome = str(replay.query_one("#replay-plan", Static).render())
            assert f"{expected:,} delivered, 0 failed" in outcome and "done" in outcome
            assert "Press y" not in outcome
            keys = {b.binding.key for b in replay.active_bindings.values() if b.binding.show}
            assert "y" not in keys and {"o", "escape"} <= keys
            await pilot.press("y")  # a second y sends nothing and makes no job
            await settle(pilot)
            job_id = replay.finished.id
            await pilot.press("o")  # open the job: the jobs screen, on it
            await settle(pilot)
            jobs = app.screen
            assert isinstance(jobs, JobsScreen) and jobs._current() is not None
            assert jobs._current().id == job_id  # type: ignore[union-attr]
            await pilot.press("e")
            await settle(pilot)
            explorer = app.screen
            assert isinstance(explorer, DeliveriesScreen)
            assert explorer.total == 0 and not explorer.rows  # reloaded: nothing is undelivered any more
            assert "nothing matches" in str(explorer.query_one("#empty-note", Static).render())
            await pilot.press("d")
            await settle(pilot)
            assert _cell_text(dashboard.query_one(EndpointsTable), "ep_giftcards", "undeliv") == "0"
            await pilot.press("j")
            await settle(pilot)
            jobs = app.screen
            assert isinstance(jobs, JobsScreen) and len(jobs.jobs) == 1
            assert "no replay jobs yet" not in str(jobs.query_one("#jobs-note", Static).render())
    acked = {event for (endpoint, event), n in receiver.acks.items() if endpoint == "ep_giftcards"}
    assert len(acked) == expected and all(n == 1 for n in receiver.acks.values()) and receiver.rejected == []


async def test_signature_check_and_curl(
    make_console: Callable[..., HookConsoleApp],
    sample_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing is written into the working copy, whatever the terminal
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("HOOKCONSOLE_NO_CLIPBOARD", raising=False)
    app = make_console()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        store = open_store(str(pilot.app.ops.db_url))  # type: ignore[attr-defined]
        with store.read() as conn:
            event_id = conn.exec_driver_sql(
                "SELECT event_id FROM delivery_attempt WHERE endpoint_id = 'ep_payments' LIMIT 1"
            ).scalar_one()
        store.close()
        app.show_event(event_id)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EventScreen)
        table = screen.query_one("#attempts", DataTable)
        rows = [str(table.get_cell_at(Coordinate(i, 1))) for i in range(table.row_count)]
        table.move_cursor(row=rows.index("ep_payments"))
        table.focus()
        await pilot.press("v")
        await settle(pilot)
        assert "signature verifies (standard" in str(screen.query_one("#check-result", Static).render())
        await pilot.press("c")
        await settle(pilot)
        secret = (sample_folder / "secrets" / "ep_payments.secret").read_text().strip()
        snippet = app.clipboard
        assert "openssl dgst" in snippet and "webhook-signature: v1,$sig" in snippet and "curl -sS" in snippet
        assert secret not in snippet and event_id in snippet
        shown = str(screen.query_one("#check-result", Static).render())
        assert "copied to the clipboard" in shown and "openssl dgst" in shown


async def test_help_palette_theme_and_jobs(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the report goes to ./reports: here, not into the working copy
    app = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        theme = app.theme
        await pilot.press("t")
        assert app.theme != theme
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Keys" not in titles  # Textual's key panel beside our Help: one is enough
        for wanted in (
            "Dashboard",
            "Deliveries",
            "Replay jobs",
            "Write report",
            "Help",
            "Dashboard window 24h",
        ):
            assert wanted in titles
        await pilot.press("j")
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen) and app.screen.query_one("#jobs", DataTable).row_count == 0
        await pilot.press("ctrl+r")
        await settle(pilot)
        (report,) = (tmp_path / "reports").glob("report-*.html")
        assert report.stat().st_size > 10_000 and "<html" in report.read_text()[:2000].lower()
        assert any(str(report) in n.message for n in app._notifications)


async def test_console_on_postgresql(
    make_console: Callable[..., HookConsoleApp], pg_schema_url: str, sample_folder: Path
) -> None:
    ingest_into(pg_schema_url, sample_folder / "deliveries.jsonl")
    app = make_console(db=pg_schema_url)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert app.store_problem is None
        assert app.screen.query_one(EndpointsTable).row_count == 6
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, DeliveriesScreen) and (app.screen.total or 0) > 1000


def _shown_order(table: EndpointsTable) -> list[str]:
    return [str(table.coordinate_to_cell_key(Coordinate(i, 0))[0].value) for i in range(table.row_count)]


def _undelivered_now(db: Path | str) -> dict[str, int]:
    store = open_store(str(db))
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT endpoint_id, COUNT(*) FROM delivery WHERE delivered_at IS NULL GROUP BY endpoint_id"
        ).fetchall()
    store.close()
    return {r[0]: int(r[1]) for r in rows}


async def test_dashboard_lists_the_worst_endpoint_first_and_s_changes_the_sort(
    make_console: Callable[..., HookConsoleApp], console_db: Path
) -> None:
    undelivered = _undelivered_now(console_db)
    worst = max(undelivered, key=lambda e: undelivered[e])
    assert undelivered[worst] > 0 and list(undelivered.values()).count(undelivered[worst]) == 1
    app = make_console()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EndpointsTable)
        order = _shown_order(table)
        assert order[0] == worst and table.current_endpoint() == worst
        assert table.has_focus  # enter opens the worst endpoint straight away
        shown = [undelivered.get(e, 0) for e in order]
        assert shown == sorted(shown, reverse=True)
        assert [_cell_text(table, e, "undeliv") for e in order] == [f"{n:,}" for n in shown]
        await pilot.press("s")
        assert _shown_order(table) == sorted(order) and table.current_endpoint() == worst
        await pilot.press("enter")
        await settle(pilot)
        explorer = app.screen
        assert isinstance(explorer, DeliveriesScreen) and explorer.filter.endpoint_ids == (worst,)
        assert explorer.total == undelivered[worst]


async def test_the_explorer_follows_the_live_refresh_and_keeps_its_place(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    db = tmp_path / "live.db"
    start = now_ms()
    write_jsonl(
        tmp_path / "a.jsonl",
        [
            log_line(f"evt_a{i:03d}", "ep_live", attempted_at=format_ms(start - 600_000 + i), status_code=503)
            for i in range(150)
        ],
    )
    ingest_into(db, tmp_path / "a.jsonl")
    app = make_console(db=db, clock=now_ms, refresh_s=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        explorer = app.screen
        assert isinstance(explorer, DeliveriesScreen) and explorer.total == 150 and len(explorer.rows) == 100
        await pilot.press("n")  # all 150 shown; then a row far down, selected
        await settle(pilot)
        table = explorer.query_one("#deliveries", DataTable)
        table.move_cursor(row=120)
        await pilot.press("space")
        chosen = explorer._current()
        assert chosen is not None and explorer.selected == {chosen.key}
        scrolled = table.scroll_y
        assert scrolled > 0
        lines = [log_line(f"evt_b{i}", "ep_live", attempted_at=format_ms(now_ms() - 1000)) for i in range(3)]
        _ingest_in_another_process(db, tmp_path / "b.jsonl", lines)
        deadline = time.monotonic() + 15
        while explorer.total != 153:
            assert time.monotonic() < deadline, "the explorer did not pick up the new deliveries"
            await pilot.pause(0.1)
        await settle(pilot)
        assert len(explorer.rows) == 150  # as many rows as were shown (the newest first)
        assert explorer._current() == chosen and explorer.selected == {chosen.key}
        assert table.scroll_y >= scrolled
        await pilot.press("f5")  # the refresh key reads the same rows again
        await settle(pilot)
        assert explorer.total == 153 and explorer._current() == chosen


async def test_charts_label_time_and_show_a_quiet_endpoints_outage(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    """A busy endpoint (20 attempts a minute, all fine) and a quiet one (1 a minute) that fails for 10 minutes:
    the volume of attempts hardly moves, the failures chart must show the outage and nothing else."""
    lines = []
    for minute in range(60):
        at = END - (60 - minute) * 60_000
        lines += [
            log_line(f"evt_busy_{minute}_{i}", "ep_busy", attempted_at=format_ms(at + i)) for i in range(20)
        ]
        failing = 30 <= minute < 40
        lines.append(
            log_line(
                f"evt_quiet_{minute}",
                "ep_quiet",
                attempted_at=format_ms(at + 500),
                status_code=503 if failing else 200,
            )
        )
    write_jsonl(tmp_path / "q.jsonl", lines)
    db = tmp_path / "quiet.db"
    ingest_into(db, tmp_path / "q.jsonl")
    app = make_console(db=db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        failed = list(screen.query_one("#spark-failed").data or [])  # type: ignore[attr-defined]
        outage = [i for i, n in enumerate(failed) if n]
        assert outage and len(outage) == 10 and outage == list(range(outage[0], outage[0] + 10))
        assert max(failed) == 1  # one failed attempt a minute: full height on its own scale
        axis = str(screen.query_one("#axis-failed").render_line(0).text)
        assert "23:00" in axis and "00:00 UTC" in axis  # the window's start and end (UTC)


async def test_replay_window_previews_impact_and_toggles_superseded(
    make_console: Callable[..., HookConsoleApp],
) -> None:
    app = make_console()
    selection = ReplaySelection(DeliveryFilter(state=DeliveryState.UNDELIVERED))
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.push_screen(ReplayScreen(selection))
        await settle(pilot)
        replay = app.screen
        assert isinstance(replay, ReplayScreen) and replay.plan is not None and replay.plan.impact is not None
        text = str(replay.query_one("#replay-plan", Static).render())
        impact = replay.plan.impact
        assert (
            f"Impact: {impact.users:,} users, {impact.rewards:,} rewards" in text
            and "drain " in text
            and "~<" not in text
        )
        assert impact.superseded > 0 and f"Superseded: {impact.superseded:,} (s leaves them out)" in text
        before = replay.plan.skipped
        await pilot.press("s")
        await settle(pilot)
        assert replay.plan is not None and replay.plan.selection.skip_superseded
        assert replay.plan.skipped == before + impact.superseded
        assert "left out; s sends them" in str(replay.query_one("#replay-plan", Static).render())


async def test_the_explorer_search_box_takes_a_payload_filter(
    make_console: Callable[..., HookConsoleApp],
) -> None:
    """The explorer's search accepts the text `--where` takes (payload fields); a bad one says where it is wrong."""
    app = make_console()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.show_deliveries()
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DeliveriesScreen)
        everything = screen.total
        assert everything is not None and everything > 0
        search = screen.query_one("#f-search", Input)
        search.value = EUR_OVER_1000
        await search.action_submit()
        await settle(pilot)
        assert screen.filter.where == Where.parse(EUR_OVER_1000) and screen.filter.search is None
        assert screen.total is not None and 0 < screen.total < everything
        shown = list(screen.rows.values())
        assert shown and all(r.currency == "EUR" and float(r.amount or 0) >= 1000 for r in shown)
        search.value = "amount >="
        await search.action_submit()
        await settle(pilot)
        assert screen.filter.where == Where.parse(EUR_OVER_1000)  # the bad text changed nothing
        assert any("search:" in n.message and "position" in n.message for n in app._notifications)


async def test_a_column_narrows_again_when_its_long_cells_are_gone(
    make_console: Callable[..., HookConsoleApp], tmp_path: Path
) -> None:
    db = tmp_path / "widths.db"
    start = now_ms() - 600_000
    lines = [
        log_line(
            f"evt_e{i}",
            "ep_err",
            attempted_at=format_ms(start + i),
            status_code=None,
            error="connection refused",
        )
        for i in range(3)
    ] + [
        log_line(f"evt_c{i}", "ep_code", attempted_at=format_ms(start + i), status_code=503) for i in range(3)
    ]
    write_jsonl(tmp_path / "widths.jsonl", lines)
    ingest_into(db, tmp_path / "widths.jsonl")
    app = make_console(db=db, clock=now_ms)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.show_deliveries()
        await settle(pilot)
        explorer = app.screen
        assert isinstance(explorer, DeliveriesScreen) and explorer.total == 6
        table = explorer.query_one("#deliveries", DataTable)
        assert table.columns[ColumnKey("last")].content_width == len("connection refused")
        app.show_deliveries(endpoint_id="ep_code")
        await settle(pilot)
        assert explorer.total == 3
        assert table.columns[ColumnKey("last")].content_width == len("last")
