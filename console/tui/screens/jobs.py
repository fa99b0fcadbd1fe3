"""Replay job history: newest first, with resume and cancel."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from console.domain.replay import ItemState, JobView
from console.domain.urls import mask_url
from console.operations import ActionRefused
from console.tui.screens.base import ConsoleAccess
from console.tui.text import literal, stamp
from console.tui.widgets.settled_table import SettledTable

STATE_STYLE = {
    "done": "green",
    "failed": "red",
    "running": "yellow",
    "interrupted": "yellow",
    "cancelled": "dim",
}


def _why(job: JobView) -> str:
    """The job's reason, and the target it went to when not the endpoints' own (`--to`)."""
    reason = job.reason or "-"
    return f"{reason} (to {mask_url(job.target_url)})" if job.target_url else reason


@dataclass
class JobsLoaded(Message):
    jobs: list[JobView]


@dataclass
class JobNote(Message):
    text: str
    changed: bool  # the store changed: every open screen reloads


class JobsScreen(ConsoleAccess, Screen[None]):
    WRITE_ACTIONS = frozenset({"resume", "cancel_job"})  # hidden in read-only mode
    BINDINGS = [
        Binding("r", "reload", "Refresh"),
        Binding("R", "resume", "Resume"),
        Binding("x", "cancel_job", "Cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, JobView] = {}
        self.highlight: str | None = None  # a job to put the cursor on once listed
        self.empty_hint_shown = False

    def compose(self) -> ComposeResult:
        yield Static(" replay jobs, newest first", id="jobs-title", markup=False)
        yield SettledTable(id="jobs", cursor_type="row")
        yield Static("", id="jobs-note", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#jobs", DataTable)
        for column in (
            "job",
            "state",
            "created",
            "total",
            "delivered",
            "failed",
            "skipped",
            "pending",
            "operator",
            "reason",
            "selection",
        ):
            table.add_column(column, key=column)
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    def store_changed(self) -> None:
        self.load()

    def show_job(self, job_id: str) -> None:
        """Put the cursor on a job (from the replay window's "open the job")."""
        self.highlight = job_id
        if self.is_mounted:
            self.load()

    @work(thread=True, exclusive=True, group="jobs", exit_on_error=False)
    def load(self) -> None:
        self.post_message(JobsLoaded(self.console.ops.jobs()))

    @on(JobsLoaded)
    def show(self, message: JobsLoaded) -> None:
        self.console.store_is_back()
        table = self.query_one("#jobs", DataTable)
        table.clear()
        self.jobs = {j.id: j for j in message.jobs}
        for j in message.jobs:
            counts = (
                j.count(ItemState.DELIVERED),
                j.count(ItemState.FAILED),
                j.count(ItemState.SKIPPED),
                j.count(ItemState.PENDING),
            )
            table.add_row(literal(j.id), Text(j.state.value, style=STATE_STYLE.get(j.state.value, "")), Text(stamp(j.created_at_ms)),
                          Text(f"{j.total:,}"), *(Text(f"{n:,}") for n in counts), literal(j.operator or "-"), literal(_why(j)),
                          literal(j.selection), key=j.id)  # fmt: skip
        note = self.query_one("#jobs-note", Static)
        if not message.jobs:
            note.update("no replay jobs yet: select deliveries (e) and press r")
        elif self.empty_hint_shown:
            note.update("")  # the hint is about an empty list: it goes once there are jobs
        self.empty_hint_shown = not message.jobs
        if self.highlight in self.jobs:
            table.move_cursor(row=table.get_row_index(self.highlight), animate=False)
            self.highlight = None

    def _current(self) -> JobView | None:
        table = self.query_one("#jobs", DataTable)
        if not table.row_count:
            return None
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self.jobs.get(str(key.value))

    def action_reload(self) -> None:
        self.load()

    def action_resume(self) -> None:
        job = self._current()
        if job is not None:
            self.console.resume_job(job)

    def action_cancel_job(self) -> None:
        job = self._current()
        if job is not None:
            self.cancel(job.id)

    @work(thread=True, exclusive=True, group="jobs-cancel", exit_on_error=False)
    def cancel(self, job_id: str) -> None:
        try:
            view = self.console.ops.cancel_job(job_id)
        except ActionRefused as exc:
            self.post_message(JobNote(str(exc), changed=False))
            return
        self.post_message(JobNote(f"job {view.id} cancelled", changed=True))

    @on(JobNote)
    def note(self, message: JobNote) -> None:
        self.query_one("#jobs-note", Static).update(literal(message.text))
        if message.changed:
            self.console.store_changed()
