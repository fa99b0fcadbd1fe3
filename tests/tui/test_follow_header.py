"""`tui --follow`: the dashboard's header names each followed source and its state (following, lagging,
retrying since when and why, stopped), fits 80x24 and 120x40 with nothing pushed off the screen, and a source
that starts failing or comes back is also said in a notification. Without --follow the line is not there."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widget import Widget
from textual.widgets import DataTable

from console.domain.follow import FollowState, FollowStatus
from console.operations import Operations
from console.tui.app import HookConsoleApp, make_app
from console.tui.screens.dashboard import DashboardScreen
from console.tui.widgets.follow_line import FollowLine
from tests.tui.conftest import END, settle

FILE = "/var/log/hooks/deliveries.jsonl"
SVIX = "svix+postgresql://reader@db.internal:5432/svix?app=shop"
CONVOY = "convoy+postgresql://reader@db.internal:5432/convoy?project=billing"
LOCKED = f"{FILE}: store: database is locked"


def _following(source: str, name: str) -> FollowStatus:
    return FollowStatus(source, name, FollowState.FOLLOWING)


def _retrying(source: str, name: str) -> FollowStatus:
    return FollowStatus(source, name, FollowState.RETRYING, 40.0, END - 35_000, 4, LOCKED)


def _console(console_db: Path, sample_folder: Path, statuses: list[FollowStatus] | None) -> HookConsoleApp:
    followed = (lambda: list(statuses)) if statuses is not None else None
    ops = Operations(str(console_db), sample_folder / "endpoints.toml", clock=lambda: END, followed=followed)
    return make_app(None, "", 3600.0, ops=ops)


def _off_screen(app: HookConsoleApp) -> list[str]:
    """Widgets on the dashboard that end below the screen, or that got no room at all."""
    screen = app.screen
    height = screen.size.height
    found = [f"#{w.id} ends at {w.region.bottom}" for w in screen.query(Widget) if w.region.bottom > height]
    failures = screen.query_one("#failures", DataTable)
    if failures.region.height < 2:
        found.append(f"#failures has {failures.region.height} rows")
    return found


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_the_header_names_each_source_and_its_state(
    console_db: Path, sample_folder: Path, size: tuple[int, int]
) -> None:
    statuses = [_retrying(FILE, "deliveries.jsonl"), _following(SVIX, "svix shop")]
    app = _console(console_db, sample_folder, statuses)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        line = app.screen.query_one("#follow-line", FollowLine)
        text = str(line.text) if isinstance(line.text, str) else line.text.plain
        assert line.region.y == 1 and line.region.width == size[0]
        assert len(text) <= size[0], text
        assert "deliveries.jsonl retrying since 23:59:25 (4 tries)" in text and "svix shop following" in text
        if size[0] >= 120:  # the reason, without the path said beside it
            assert "retrying since 23:59:25 (4 tries): store: database is locked" in text
            assert FILE not in text
        assert _off_screen(app) == []
        statuses.append(FollowStatus(CONVOY, "convoy billing", FollowState.LAGGING, 42.0))
        statuses.append(FollowStatus("/srv/app.log", "app.log", FollowState.STOPPED, reason="asked to stop"))
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        screen.show_followed()
        await settle(pilot)
        text = line.text.plain  # type: ignore[union-attr]
        assert len(text) <= size[0], text
        for name, state in (("delive", "retrying"), ("svix s", "following"), ("convoy", "lagging")):
            assert name in text and state in text, text  # each named, at 80 columns by the start of its name
        assert "app.log stopped" in text, text
        assert _off_screen(app) == []


async def test_a_source_that_starts_failing_or_comes_back_is_notified(
    console_db: Path, sample_folder: Path
) -> None:
    statuses = [_following(FILE, "deliveries.jsonl")]
    app = _console(console_db, sample_folder, statuses)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert [n.message for n in app._notifications if FILE in n.message] == []
        statuses[0] = _retrying(FILE, "deliveries.jsonl")
        screen.show_followed()
        screen.show_followed()  # still failing: said once
        statuses[0] = _following(FILE, "deliveries.jsonl")
        screen.show_followed()
        await settle(pilot)
        said = [n.message for n in app._notifications if FILE in n.message]
        assert said == [
            f"{FILE}: retrying since 23:59:25 (4 tries): store: database is locked",
            f"{FILE}: reading again (following)",
        ]


async def test_without_follow_there_is_no_sources_line(console_db: Path, sample_folder: Path) -> None:
    app = _console(console_db, sample_folder, None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert list(app.screen.query(FollowLine)) == []
        assert not app.screen.has_class("-following")
