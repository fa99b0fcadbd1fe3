"""Replay job history: newest first, with resume and cancel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from console.domain import formatting as fmt
from console.domain.replay import ItemState, JobView
from console.domain.urls import mask_url
from console.operations import ActionRefused
from console.tui.screens.base import ConsoleAccess
from console.tui.screens.columns import FitsColumns, columns_for
from console.tui.text import cut, literal, plain, stamp
from console.tui.widgets.settled_table import SettledTable

STATE_STYLE = {
    "done": "green",
    "failed": "red",
    "running": "yellow",
    "interrupted": "yellow",
    "cancelled": "dim",
}


COLUMNS = ("job", "state", "created", "total", "delivered", "failed", "skipped", "pending", "selection")
WHO = ("operator", "reason")  # shown where the screen is wide; the note under the table says them always
# By the least screen width they need: the columns shown, and the width the others take from the selection's.
COLUMN_SETS = [
    (150, (*COLUMNS[:-1], *WHO, COLUMNS[-1])),
    (110, COLUMNS),
    (0, ("job", "state", "delivered", "failed", "pending", "selection")),
]
SELECTION_ROOM = [(150, 111 + 16 + 22 + 4), (110, 103), (0, 63)]
NARROW_LABELS = {
    "delivered": "ok",
    "failed": "fail",
    "pending": "left",
}  # below 110 columns: room for the selection
WHO_WIDTH = {"operator": 16, "reason": 22}


def _why(job: JobView) -> str:
    """The job's reason, and the target it went to when not the endpoints' own (`--to`)."""
    reason = job.reason or "-"
    return f"{reason} (to {mask_url(job.target_url)})" if job.target_url else reason


@dataclass
class JobsLoaded(Message):
    jobs: list[JobView]


@dataclass
class JobExplained(Message):
    """Who started the highlighted job, why, and why its items failed (the most common reasons)."""

    job_id: str
    text: str


@dataclass
class JobNote(Message):
    text: str
    changed: bool  # the store changed: every open screen reloads


class JobsScreen(ConsoleAccess, FitsColumns, Screen[None]):
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
        self.shown_columns: tuple[str, ...] = ()
        self.selection_room = 0
        self.wide = True

    def compose(self) -> ComposeResult:
        yield Static(" replay jobs, newest first", id="jobs-title", markup=False)
        yield SettledTable(id="jobs", cursor_type="row")
        yield Static("", id="jobs-why", markup=False)
        yield Static("", id="jobs-note", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._fit_columns(self.app.size.width)
        self.load()

    def _fit_columns(self, width: int) -> None:
        """The columns that fit; the selection (free text) gets what is left and ends in "…" when longer."""
        wanted, wide = columns_for(COLUMN_SETS, width)
        room = max(12, width - next(used for least, used in SELECTION_ROOM if width >= least))
        if (wanted, room) == (self.shown_columns, self.selection_room):
            return
        self.shown_columns, self.selection_room, self.wide = wanted, room, wide
        table = self.query_one("#jobs", DataTable)
        table.clear(columns=True)
        for column in wanted:
            label = column if width >= COLUMN_SETS[1][0] else NARROW_LABELS.get(column, column)
            table.add_column(label, key=column)
        self._fill(table)

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
        self.jobs = {j.id: j for j in message.jobs}
        self._fill(table)
        note = self.query_one("#jobs-note", Static)
        if not message.jobs:
            note.update("no replay jobs yet: select deliveries (e) and press r")
        elif self.empty_hint_shown:
            note.update("")  # the hint is about an empty list: it goes once there are jobs
        self.empty_hint_shown = not message.jobs
        if self.highlight in self.jobs:
            table.move_cursor(row=table.get_row_index(self.highlight), animate=False)
            self.highlight = None

    @on(DataTable.RowHighlighted, "#jobs")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        job = self.jobs.get(str(event.row_key.value)) if event.row_key is not None else None
        if job is not None:
            self.explain(job)

    @work(thread=True, exclusive=True, group="jobs-why", exit_on_error=False)
    def explain(self, job: JobView) -> None:
        parts = [f"{job.id}: by {job.operator or '-'}", f"why: {_why(job)}", f"selection: {job.selection}"]
        if job.count(ItemState.FAILED):
            reasons = self.console.ops.failure_reasons(job.id)
            parts.append("failed: " + "; ".join(f"{reason} ({fmt.count(n)})" for reason, n in reasons))
        self.post_message(JobExplained(job.id, " · ".join(parts)))

    @on(JobExplained)
    def explained(self, message: JobExplained) -> None:
        current = self._current()
        if current is not None and current.id == message.job_id:
            self.query_one("#jobs-why", Static).update(plain(message.text))

    def _fill(self, table: DataTable[Any]) -> None:
        table.clear()
        for j in self.jobs.values():
            created = stamp(j.created_at_ms)
            selection = cut(plain(j.selection), self.selection_room)
            cells = {
                "job": literal(j.id),
                "state": Text(j.state.value, style=STATE_STYLE.get(j.state.value, "")),
                "created": Text(created if self.wide else created[5:16]),
                "total": Text(fmt.count(j.total)),
                "delivered": Text(fmt.count(j.count(ItemState.DELIVERED))),
                "failed": Text(fmt.count(j.count(ItemState.FAILED))),
                "skipped": Text(fmt.count(j.count(ItemState.SKIPPED))),
                "pending": Text(fmt.count(j.count(ItemState.PENDING))),
                "selection": Text(selection),
                "operator": Text(cut(plain(j.operator or "-"), WHO_WIDTH["operator"])),
                "reason": Text(cut(plain(_why(j)), WHO_WIDTH["reason"])),
            }
            table.add_row(*(cells[c] for c in self.shown_columns), key=j.id)

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
