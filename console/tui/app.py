"""The console application: modes (dashboard, deliveries, jobs), pushed screens, commands and the store's health."""

from __future__ import annotations

from collections.abc import Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import JobView, ReplaySelection
from console.operations import Operations, StoreUnavailable
from console.tui.messages import StoreProblem
from console.tui.screens.dashboard import WINDOWS, DashboardScreen
from console.tui.screens.deliveries import DeliveriesScreen
from console.tui.screens.event import EventScreen
from console.tui.screens.help import HelpScreen
from console.tui.screens.jobs import JobsScreen
from console.tui.screens.replay import ReplayScreen


class HookConsoleApp(App[None]):
    TITLE = "hookconsole"
    CSS_PATH = "console.tcss"
    MODES = {"dashboard": DashboardScreen, "deliveries": DeliveriesScreen, "jobs": JobsScreen}
    DEFAULT_MODE = "dashboard"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # classes the .tcss lays out by
    BINDINGS = [
        Binding("d", "switch_mode('dashboard')", "Dashboard"),
        Binding("e", "switch_mode('deliveries')", "Deliveries"),
        Binding("j", "switch_mode('jobs')", "Jobs"),
        Binding("ctrl+r", "report", "Report"),
        Binding("t", "toggle_theme", "Theme", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, ops: Operations, refresh_s: float = 2.0) -> None:
        super().__init__()
        self.ops = ops
        self.refresh_s = refresh_s
        self.store_problem: str | None = None

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Dashboard", "Live figures for the window", lambda: self.switch_mode("dashboard"))
        yield SystemCommand(
            "Deliveries", "Explore, filter and select deliveries", lambda: self.switch_mode("deliveries")
        )
        yield SystemCommand(
            "Undelivered deliveries",
            "Deliveries with no success yet",
            lambda: self.show_deliveries(state="undelivered"),
        )
        yield SystemCommand("Replay jobs", "History, resume and cancel", lambda: self.switch_mode("jobs"))
        yield SystemCommand(
            "Write report", "The HTML report for what is shown, in reports/", self.action_report
        )
        yield SystemCommand("Toggle light/dark", "Switch the theme", self.action_toggle_theme)
        yield SystemCommand("Help", "Keys and what they do", self.action_help)
        for name in WINDOWS:
            yield SystemCommand(
                f"Dashboard window {name}", f"Figures over the last {name}", lambda n=name: self._window(n)
            )

    def _window(self, name: str) -> None:
        self.switch_mode("dashboard")
        screen = self.screen
        if isinstance(screen, DashboardScreen):
            screen.action_window(name)

    def show_deliveries(self, endpoint_id: str | None = None, state: str = "any") -> None:
        self.switch_mode("deliveries")
        screen = self.screen
        if isinstance(screen, DeliveriesScreen):
            screen.set_filter(
                DeliveryFilter(endpoint_ids=(endpoint_id,) if endpoint_id else (), state=DeliveryState(state))
            )

    def show_event(self, event_id: str) -> None:
        self.push_screen(EventScreen(event_id))

    def open_replay(self, flt: DeliveryFilter, pairs: tuple[tuple[str, str], ...] | None) -> None:
        self.push_screen(ReplayScreen(ReplaySelection(flt, pairs=pairs)))

    def resume_job(self, job: JobView) -> None:
        self.push_screen(ReplayScreen(resume_job=job))

    def replay_finished(self, view: JobView) -> None:
        self.notify(f"replay {view.id}: {view.state.value}", timeout=5)

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_report(self) -> None:
        screen = self.screen
        if isinstance(screen, DeliveriesScreen):
            flt = screen.filter
        elif isinstance(screen, DashboardScreen):
            flt = DeliveryFilter(since_ms=self.ops.clock() - WINDOWS[screen.window])
        else:
            flt = DeliveryFilter()
        self.notify("writing the report...", timeout=2)
        self.write_report(flt)

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def write_report(self, flt: DeliveryFilter) -> None:
        try:
            path = self.ops.write_report(flt)
        except StoreUnavailable as exc:
            self.post_message(StoreProblem(str(exc)))
            return
        self.call_from_thread(self.notify, f"report written to {path}", timeout=10)

    @on(StoreProblem)
    def store_problem_seen(self, message: StoreProblem) -> None:
        if message.reason != self.store_problem:
            self.notify(f"store unavailable: {message.reason} (retrying)", severity="error", timeout=8)
        self.store_problem = message.reason
        self.sub_title = "store unavailable"

    def store_is_back(self) -> None:
        if self.store_problem is not None:
            self.store_problem = None
            self.sub_title = ""
            self.notify("the store answers again", timeout=4)


def make_app(
    db_url: str | None, endpoints_path: str, refresh_s: float = 2.0, ops: Operations | None = None
) -> HookConsoleApp:
    """The console app, as the CLI and the tests build it."""
    from pathlib import Path

    return HookConsoleApp(ops or Operations(db_url, Path(endpoints_path)), refresh_s)
