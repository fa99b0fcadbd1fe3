"""The console application: modes (dashboard, deliveries, jobs), pushed screens, commands and the store's health."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.follow import FollowStatus
from console.domain.replay import JobView, ReplaySelection
from console.operations import ActionRefused, Operations, StoreUnavailable
from console.tui.screens.base import ConsoleAccess
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
        # Mode keys stay out of the footers (they would cut them at 80 columns): help and the palette list them.
        Binding("d", "switch_mode('dashboard')", "Dashboard", show=False),
        Binding("e", "switch_mode('deliveries')", "Deliveries", show=False),
        Binding("j", "switch_mode('jobs')", "Jobs", show=False),
        Binding("ctrl+r", "report", "Report", show=False),
        Binding("t", "toggle_theme", "Theme", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, ops: Operations, refresh_s: float = 2.0, read_only: bool = False) -> None:
        super().__init__()
        self.ops = ops
        self.read_only = read_only  # look, never send or change: replay, resume and cancel are hidden
        if read_only:
            self.title = "hookconsole (read-only)"
        self.refresh_s = refresh_s
        self.store_problem: str | None = None

    def on_ready(self) -> None:
        if not self.is_headless:
            # What is loaded by the first paint (Textual, the store, the screens) lives as long as the console:
            # frozen, a full collection no longer walks it in the middle of a live refresh (~120 ms -> ~10 ms).
            gc.freeze()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Textual's own "Keys" (its key panel) and "Theme" (every theme) would sit beside our "Help" and
        # "Toggle light/dark": keep one of each.
        yield from (c for c in super().get_system_commands(screen) if c.title not in ("Keys", "Theme"))
        yield from screen_commands(screen)
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

    def show_event(self, event_id: str, endpoint_id: str | None = None) -> None:
        """The event's screen, its cursor on `endpoint_id`'s newest attempt (the delivery it was opened from)."""
        self.push_screen(EventScreen(event_id, endpoint_id))

    def refused_read_only(self, action: str) -> bool:
        """True (and says so) when the console is read-only."""
        if self.read_only:
            self.notify(f"read-only mode: {action} is refused", severity="warning", timeout=6, markup=False)
        return self.read_only

    def open_replay(self, flt: DeliveryFilter, pairs: tuple[tuple[str, str], ...] | None) -> None:
        if self.refused_read_only("replay"):
            return
        # resolved deliveries are not replayed from the console (reopen them first)
        self.push_screen(ReplayScreen(ReplaySelection(flt.with_(include_resolved=False), pairs=pairs)))

    def show_job(self, job_id: str) -> None:
        self.switch_mode("jobs")
        screen = self.screen
        if isinstance(screen, JobsScreen):
            screen.show_job(job_id)

    def resume_job(self, job: JobView) -> None:
        if self.refused_read_only("resume"):
            return
        self.push_screen(ReplayScreen(resume_job=job))

    def replay_finished(self, view: JobView) -> None:
        self.notify(f"replay {view.id}: {view.state.value}", timeout=5, markup=False)
        self.store_changed()

    def store_changed(self) -> None:
        """An action changed the store (replay, cancel, resume): every open screen, in every mode, reloads."""
        for stack in self._screen_stacks.values():  # no public accessor for the other modes' stacks
            for screen in stack:
                if isinstance(screen, ConsoleAccess):
                    screen.store_changed()

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
        path = self.ops.write_report(flt)
        self.call_from_thread(self.notify, f"report written to {path}", timeout=10, markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_state_changed(None, event)

    def worker_state_changed(self, screen: ConsoleAccess | None, event: Worker.StateChanged) -> None:
        """The one place worker failures are handled: say what went wrong, then let the screen reset."""
        worker: Worker[object] = event.worker
        if event.state is not WorkerState.ERROR:
            return
        error = worker.error
        if isinstance(error, StoreUnavailable):
            reason = str(error)
            self.store_problem_seen(reason)
        elif isinstance(error, ActionRefused):
            reason = str(error)
            self.notify(reason, severity="warning", timeout=8, markup=False)
        else:
            reason = f"unexpected error: {type(error).__name__}: {error}"
            self.notify(f"{worker.group}: {reason}", severity="error", timeout=15, markup=False)
        if screen is not None:
            screen.worker_failed(worker.group, reason)

    def store_problem_seen(self, reason: str) -> None:
        if reason != self.store_problem:
            self.notify(f"store unavailable: {reason} (retrying)", severity="error", timeout=8, markup=False)
        self.store_problem = reason
        self.sub_title = "store unavailable"

    def store_is_back(self) -> None:
        if self.store_problem is not None:
            self.store_problem = None
            self.sub_title = ""
            self.notify("the store answers again", timeout=4)


def screen_commands(screen: Screen[Any]) -> Iterable[SystemCommand]:
    """Every action of the screen in front (its own keys, those it hides from the footer too), as commands:
    the palette finds "verify" on the event screen and "pause" on the dashboard. Actions the screen has off
    (read-only, the other of pause/resume) are left out, as they are from its footer."""
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if active.node is not screen or not active.enabled or not binding.description:
            continue
        if binding.action in seen:
            continue
        seen.add(binding.action)
        keys = screen.app.get_key_display(binding)
        yield SystemCommand(
            binding.description,
            f"{binding.tooltip or binding.description} (key {keys or key})",
            lambda action=binding.action: screen.run_action(action),
        )


def make_app(
    db_url: str | None,
    endpoints_path: str,
    refresh_s: float = 2.0,
    ops: Operations | None = None,
    read_only: bool = False,
    followed: Callable[[], list[FollowStatus]] | None = None,
) -> HookConsoleApp:
    """The console app, as the CLI and the tests build it (`read_only`: hide and refuse what sends or changes;
    `followed`: the states of the sources `tui --follow` keeps flowing in, for the dashboard's header)."""
    from pathlib import Path

    ops = ops or Operations(db_url, Path(endpoints_path), read_only=read_only)
    if followed is not None:
        ops.followed = followed
    return HookConsoleApp(ops, refresh_s, read_only)
