"""Replay from the console: the plan (a dry run), confirmation, live progress per endpoint, the outcome, stop.
It runs the replay service in a worker thread; the console has no sender of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, ProgressBar, Static

from console.domain.replay import ItemState, JobView, ReplayPlan, ReplaySelection
from console.operations import ActionRefused, ReplayControl, StoreUnavailable
from console.replay.runner import RunProgress
from console.tui.screens.base import ConsoleAccess
from console.tui.text import literal, stamp


@dataclass
class PlanReady(Message):
    plan: ReplayPlan


@dataclass
class Refused(Message):
    reason: str


@dataclass
class Progressed(Message):
    counts: dict[str, tuple[int, int, int, str | None]] = field(
        default_factory=dict
    )  # delivered, failed, skipped, breaker


@dataclass
class JobFinished(Message):
    view: JobView


class ReplayScreen(ConsoleAccess, ModalScreen[None]):
    BINDINGS = [
        Binding("y", "confirm", "Send"),
        Binding("x", "stop", "Stop"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, selection: ReplaySelection | None = None, resume_job: JobView | None = None) -> None:
        super().__init__()
        self.selection = selection
        self.resume_job = resume_job
        self.plan: ReplayPlan | None = None
        self.control = ReplayControl()
        self.running = False
        self.total = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="replay-dialog"):
            yield Static("Replay", id="replay-title")
            yield Static("planning (dry run)...", id="replay-plan", markup=False)
            yield DataTable(id="replay-endpoints", cursor_type="none")
            yield ProgressBar(id="replay-progress", show_eta=False)
            yield Static("", id="replay-outcome", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#replay-endpoints", DataTable)
        # Fixed widths: the table fills in after the plan arrives, and its header must not depend on when.
        for column, width in (
            ("endpoint", 18),
            ("to send", 9),
            ("skipped", 9),
            ("delivered", 10),
            ("failed", 8),
            ("note", 40),
        ):
            table.add_column(column, key=column, width=width)
        if self.resume_job is not None:
            self._show_job_plan(self.resume_job)
        elif self.selection is not None:
            self.make_plan(self.selection)

    @work(thread=True, exclusive=True, group="replay-plan", exit_on_error=False)
    def make_plan(self, selection: ReplaySelection) -> None:
        try:
            self.post_message(PlanReady(self.console.ops.plan_replay(selection)))
        except (ActionRefused, StoreUnavailable) as exc:
            self.post_message(Refused(str(exc)))

    @on(PlanReady)
    def show_plan(self, message: PlanReady) -> None:
        plan = self.plan = message.plan
        self.total = plan.to_send
        table = self.query_one("#replay-endpoints", DataTable)
        table.clear()
        for e in plan.endpoints:
            table.add_row(
                literal(e.endpoint_id),
                Text(f"{e.to_send:,}"),
                Text(f"{e.skipped:,}"),
                Text("-"),
                Text("-"),
                Text(""),
                key=e.endpoint_id,
            )
        sending = [i for i in plan.items if i.skip_reason is None]
        first = ", ".join(f"{i.event_id} at {i.endpoint_id}" for i in sending[:2]) + (
            " ..." if len(sending) > 2 else ""
        )
        text = (f"{plan.to_send:,} deliveries to send, {plan.skipped:,} skipped (already delivered), "
                f"{len(plan.endpoints)} endpoint(s). First: {first or 'none'}.\n"
                + ("Press y to send them, signed, or escape to leave." if plan.to_send else "Nothing to send."))  # fmt: skip
        self.query_one("#replay-plan", Static).update(text)
        self.query_one("#replay-progress", ProgressBar).update(total=max(plan.to_send, 1), progress=0)

    def _show_job_plan(self, job: JobView) -> None:
        pending = job.count(ItemState.PENDING)
        self.total = pending
        table = self.query_one("#replay-endpoints", DataTable)
        for e in job.endpoints:
            table.add_row(literal(e.endpoint_id), Text(f"{e.count(ItemState.PENDING):,}"), Text(f"{e.count(ItemState.SKIPPED):,}"),
                          Text(f"{e.count(ItemState.DELIVERED):,}"), Text(f"{e.count(ItemState.FAILED):,}"), Text(""), key=e.endpoint_id)  # fmt: skip
        self.query_one("#replay-plan", Static).update(
            f"Resume job {job.id}: {pending:,} pending. Press y to send them."
        )
        self.query_one("#replay-progress", ProgressBar).update(total=max(pending, 1), progress=0)

    @on(Refused)
    def refused(self, message: Refused) -> None:
        self.running = False
        self.query_one("#replay-outcome", Static).update(f"Not sent: {message.reason}")

    def action_confirm(self) -> None:
        if self.running or (self.plan is None and self.resume_job is None):
            return
        if self.plan is not None and not self.plan.to_send:
            return
        self.running = True
        self.query_one("#replay-outcome", Static).update("sending... (x stops; a stopped job can be resumed)")
        self.send(self.plan, self.resume_job)

    @work(thread=True, exclusive=True, group="replay-run", exit_on_error=False)
    def send(self, plan: ReplayPlan | None, job: JobView | None) -> None:
        ops = self.console.ops
        try:
            job_id = job.id if job is not None else ops.create_job(plan)  # type: ignore[arg-type]
            if job is not None:
                ops.prepare_resume(job_id)
            view = ops.run_job(job_id, self.control, self._progressed)
            self.post_message(JobFinished(view))
        except (ActionRefused, StoreUnavailable) as exc:
            self.post_message(Refused(str(exc)))

    def _progressed(self, progress: RunProgress) -> None:
        counts = {e: (c.delivered, c.failed, c.skipped, c.breaker) for e, c in progress.endpoints.items()}
        self.post_message(Progressed(counts))

    @on(Progressed)
    def show_progress(self, message: Progressed) -> None:
        table = self.query_one("#replay-endpoints", DataTable)
        done = 0
        for endpoint, (delivered, failed, _skipped, breaker) in message.counts.items():
            done += delivered + failed
            if endpoint in {k.value for k in table.rows}:
                table.update_cell(endpoint, "delivered", Text(f"{delivered:,}", style="green"))
                table.update_cell(endpoint, "failed", Text(f"{failed:,}", style="red" if failed else ""))
                table.update_cell(endpoint, "note", literal(breaker or ""))
        self.query_one("#replay-progress", ProgressBar).update(progress=done)

    @on(JobFinished)
    def finished(self, message: JobFinished) -> None:
        self.running = False
        view = message.view
        text = (f"job {view.id}: {view.state.value} at {stamp(view.finished_at_ms)} UTC: "
                f"{view.count(ItemState.DELIVERED):,} delivered, {view.count(ItemState.FAILED):,} failed, "
                f"{view.count(ItemState.SKIPPED):,} skipped. Escape closes.")  # fmt: skip
        self.query_one("#replay-outcome", Static).update(text)
        self.query_one("#replay-progress", ProgressBar).update(progress=self.total)
        self.console.replay_finished(view)

    def action_stop(self) -> None:
        if self.running:
            self.control.stop()
            self.query_one("#replay-outcome", Static).update("stopping after the requests in flight...")

    def action_close(self) -> None:
        if self.running:
            self.notify("a replay is running: x stops it first", severity="warning")
            return
        self.dismiss(None)
