"""Replay from the console: the plan (a dry run), confirmation, live progress per endpoint, the outcome, stop.
It runs the replay service in a worker thread; the console has no sender of its own. Once the job has ended
the window shows the outcome and offers only to close it or open the job. Forcing (`f`, already delivered events
sent again) asks for a reason, which the job records; without one nothing is sent."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, ProgressBar, Static

from console.domain import formatting as fmt
from console.domain.replay import ItemState, JobView, ReplayPlan, ReplaySelection
from console.domain.resolutions import SUPERSEDED, ResolveOutcome
from console.operations import ActionRefused
from console.replay.handle import JobHandle
from console.replay.impact_view import amounts_text, drain_time, missing_text, plan_drain_seconds
from console.replay.runner import EndpointCounts, RunProgress
from console.tui.screens.base import ConsoleAccess
from console.tui.screens.reason import ReasonScreen, resolve_note
from console.tui.text import literal, plain, stamp
from console.tui.widgets.settled_table import SettledTable


@dataclass
class PlanReady(Message):
    plan: ReplayPlan


@dataclass
class Refused(Message):
    reason: str


@dataclass
class Progressed(Message):
    """A copy of the run's counts per endpoint (the runner goes on changing its own)."""

    counts: dict[str, EndpointCounts] = field(default_factory=dict)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Progressed)  # a newer count makes an older one still queued moot


@dataclass
class SupersededResolved(Message):
    outcome: ResolveOutcome


@dataclass
class JobStarted(Message):
    job: JobHandle


@dataclass
class JobFinished(Message):
    view: JobView
    reasons: list[tuple[str, int]]  # the most common last errors of the failed items


REASON_NEEDED = "a reason is required to force (why send already delivered events again?): type it below"


class ReplayScreen(ConsoleAccess, ModalScreen[None]):
    WRITE_ACTIONS = frozenset({"confirm", "toggle_force", "resolve_superseded"})  # hidden in read-only mode
    BINDINGS = [
        Binding("y", "confirm", "Send"),
        Binding("s", "toggle_superseded", "Skip superseded"),
        Binding("f", "toggle_force", "Force"),
        Binding(
            "w", "resolve_superseded", "Resolve superseded", tooltip="Mark the superseded ones won't send"
        ),
        Binding("x", "stop", "Stop"),
        Binding("o", "open_job", "Open the job"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, selection: ReplaySelection | None = None, resume_job: JobView | None = None) -> None:
        super().__init__()
        self.selection = selection
        self.resume_job = resume_job
        self.plan: ReplayPlan | None = None
        self.job: JobHandle | None = None  # the run, once the worker has started it
        self.stops = 0  # `x` presses: a run not started yet stops as soon as it starts (two: abandons)
        self.running = False
        self.confirm_when_planned = False  # `y` pressed before the plan arrived
        self.finished: JobView | None = None
        self.total = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="replay-dialog"):
            yield Static("Replay", id="replay-title")
            yield Static("planning (dry run)...", id="replay-plan", markup=False)
            yield SettledTable(id="replay-endpoints", cursor_type="none")
            yield Input(
                placeholder="reason (required to force), e.g. INC-42: receiver lost its database",
                id="replay-reason",
            )
            yield ProgressBar(id="replay-progress", show_eta=False)
            yield Static("", id="replay-outcome", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#replay-endpoints", DataTable)
        for column in ("endpoint", "to send", "skipped", "delivered", "failed"):
            table.add_column(column, key=column)
        self.query_one("#replay-reason", Input).display = False
        if self.resume_job is not None:
            self._show_job_plan(self.resume_job)
        elif self.selection is not None:
            self.make_plan(self.selection)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Send and stop while there is something to send or stop; open the job once it has ended."""
        if super().check_action(action, parameters) is False:
            return False  # read-only mode
        if action == "confirm":
            return self.finished is None and not self.running
        if action in ("toggle_superseded", "toggle_force"):
            return (
                self.selection is not None
                and self.resume_job is None
                and self.finished is None
                and not self.running
            )
        if action == "resolve_superseded":
            return (
                self.selection is not None
                and self.plan is not None
                and superseded_count(self.plan) > 0
                and not self.running
            )
        if action == "stop":
            return self.running
        if action == "open_job":
            return self.finished is not None
        return True

    def _state_changed(self) -> None:
        self.refresh_bindings()

    @work(thread=True, exclusive=True, group="replay-plan", exit_on_error=False)
    def make_plan(self, selection: ReplaySelection) -> None:
        try:
            self.post_message(PlanReady(self.console.ops.plan_replay(selection)))
        except ActionRefused as exc:
            self.post_message(Refused(str(exc)))

    def worker_failed(self, group: str, reason: str) -> None:
        """A store error or a crash while planning or sending: say so; the window can be closed again."""
        self.running = False
        self.confirm_when_planned = False
        self.query_one("#replay-outcome", Static).update(literal(f"Stopped: {reason}"))
        self._state_changed()

    @on(PlanReady)
    def show_plan(self, message: PlanReady) -> None:
        plan = self.plan = message.plan
        self.total = plan.to_send
        table = self.query_one("#replay-endpoints", DataTable)
        table.clear()
        for e in plan.endpoints:
            table.add_row(
                literal(e.endpoint_id),
                Text(fmt.count(e.to_send)),
                Text(fmt.count(e.skipped)),
                Text("-"),
                Text("-"),
                key=e.endpoint_id,
            )
        sending = plan.first_to_send[:2]
        first = ", ".join(f"{i.event_id} at {i.endpoint_id}" for i in sending) + (
            f" and {fmt.count(plan.to_send - len(sending))} more" if plan.to_send > len(sending) else ""
        )
        text = (
            f"{fmt.counted(plan.to_send, 'delivery')} to send, {fmt.count(plan.skipped)} skipped, "
            f"{fmt.counted(len(plan.endpoints), 'endpoint')}. First: {plain(first) or 'none'}.\n"
            + impact_summary(plan)
            + _prompt(plan)
        )
        self.query_one("#replay-plan", Static).update(text)
        self.query_one("#replay-progress", ProgressBar).update(total=max(plan.to_send, 1), progress=0)
        if self.confirm_when_planned:
            self.confirm_when_planned = False
            self.action_confirm()

    def action_toggle_superseded(self) -> None:
        """Plan again with superseded events left out (or put back)."""
        if self.selection is not None:
            self._plan_again(replace(self.selection, skip_superseded=not self.selection.skip_superseded))

    def action_toggle_force(self) -> None:
        """Plan again with already delivered events included (as `replay --force`), or left out again; forcing
        shows the reason box."""
        if self.selection is None or self.console.read_only:
            return
        force = not self.selection.force
        if self._plan_again(replace(self.selection, force=force)):
            reason = self.query_one("#replay-reason", Input)
            reason.display = force
            if force:
                reason.focus()

    def _plan_again(self, selection: ReplaySelection) -> bool:
        if self.running or self.finished is not None or self.resume_job is not None:
            return False
        self.selection = selection
        self.plan = None
        self.query_one("#replay-plan", Static).update("planning (dry run)...")
        self.query_one("#replay-outcome", Static).update("")
        self.make_plan(selection)
        return True

    @on(Input.Submitted, "#replay-reason")
    def reason_given(self) -> None:
        self.action_confirm()

    def _reason(self) -> str | None:
        return self.query_one("#replay-reason", Input).value.strip() or None

    def _show_job_plan(self, job: JobView) -> None:
        pending = job.count(ItemState.PENDING)
        self.total = pending
        table = self.query_one("#replay-endpoints", DataTable)
        for e in job.endpoints:
            table.add_row(
                literal(e.endpoint_id),
                Text(fmt.count(e.count(ItemState.PENDING))),
                Text(fmt.count(e.count(ItemState.SKIPPED))),
                Text(fmt.count(e.count(ItemState.DELIVERED))),
                Text(fmt.count(e.count(ItemState.FAILED))),
                key=e.endpoint_id,
            )
        self.query_one("#replay-plan", Static).update(
            f"Resume job {plain(job.id)}: {fmt.count(pending)} pending. Press y to send them."
        )
        self.query_one("#replay-progress", ProgressBar).update(total=max(pending, 1), progress=0)

    @on(Refused)
    def refused(self, message: Refused) -> None:
        self.running = False
        self.confirm_when_planned = False
        self.query_one("#replay-outcome", Static).update(literal(f"Not sent: {message.reason}"))
        self._state_changed()

    def action_confirm(self) -> None:
        if self.running or self.finished is not None:
            return
        if self.plan is None and self.resume_job is None:
            self.confirm_when_planned = True  # typed ahead: send as soon as the plan is shown
            return
        if self.plan is not None and not self.plan.to_send:
            return
        if self.plan is not None and self.plan.selection.force and self._reason() is None:
            self.query_one("#replay-outcome", Static).update(f"Not sent: {REASON_NEEDED}")
            reason = self.query_one("#replay-reason", Input)
            reason.display = True
            reason.focus()
            return
        self.running = True
        self.query_one("#replay-outcome", Static).update("sending... (x stops; a stopped job can be resumed)")
        self._state_changed()
        self.send(self.plan, self.resume_job, self._reason())

    @work(thread=True, exclusive=True, group="replay-run", exit_on_error=False)
    def send(self, plan: ReplayPlan | None, job: JobView | None, reason: str | None) -> None:
        ops = self.console.ops
        try:
            job_id = job.id if job is not None else ops.create_job(plan, reason)  # type: ignore[arg-type]
            if job is not None:
                ops.prepare_resume(job_id)
        except ActionRefused as exc:
            self.post_message(Refused(str(exc)))
            return
        handle = ops.start_job(job_id, self._progressed)
        self.post_message(JobStarted(handle))
        view = ops.run_job(handle)
        reasons = ops.failure_reasons(job_id) if view.count(ItemState.FAILED) else []
        self.post_message(JobFinished(view, reasons))

    def _progressed(self, progress: RunProgress) -> None:
        self.post_message(Progressed({e: replace(c) for e, c in progress.endpoints.items()}))

    @on(Progressed)
    def show_progress(self, message: Progressed) -> None:
        table = self.query_one("#replay-endpoints", DataTable)
        done = 0
        notes = []
        shown = {k.value for k in table.rows}
        for endpoint, counts in message.counts.items():
            delivered, failed, breaker = counts.delivered, counts.failed, counts.breaker
            done += delivered + failed
            if endpoint in shown:
                table.update_cell(
                    endpoint, "delivered", Text(fmt.count(delivered), style="green"), update_width=True
                )
                table.update_cell(
                    endpoint,
                    "failed",
                    Text(fmt.count(failed), style="red" if failed else ""),
                    update_width=True,
                )
                # the job's own count: the plan's, plus any another console delivered meanwhile
                table.update_cell(endpoint, "skipped", fmt.count(counts.skipped), update_width=True)
            if breaker:
                notes.append(f"{endpoint}: {breaker}")
        self.query_one("#replay-progress", ProgressBar).update(progress=done)
        if notes:  # a paused endpoint (circuit breaker) says so under the table
            self.query_one("#replay-outcome", Static).update(plain("sending... " + "; ".join(notes)))

    @on(JobStarted)
    def job_started(self, message: JobStarted) -> None:
        self.job = message.job
        for _ in range(min(self.stops, 2)):
            self.job.stop()  # a stop before the run began still ends it: nothing is sent

    @on(JobFinished)
    def job_finished(self, message: JobFinished) -> None:
        self.running = False
        view = self.finished = message.view
        failed = view.count(ItemState.FAILED)
        text = (
            f"Job {plain(view.id)} {view.state.value} at {stamp(view.finished_at_ms)} UTC: "
            f"{fmt.count(view.count(ItemState.DELIVERED))} delivered, {fmt.count(failed)} failed, "
            f"{fmt.count(view.count(ItemState.SKIPPED))} skipped."
        )
        changed = since_the_plan(self.plan, view)
        if changed:
            text += f"\n{changed}"
        if message.reasons:
            text += (
                "\nMost common reasons: "
                + "; ".join(f"{plain(r)} ({fmt.count(n)})" for r, n in message.reasons)
                + "."
            )
        self.query_one("#replay-plan", Static).update(text)  # markup=False: shown as it is
        self.query_one("#replay-outcome", Static).update("o opens the job · escape closes")
        self.query_one("#replay-progress", ProgressBar).update(progress=self.total)
        self._state_changed()
        self.console.replay_finished(view)

    def action_resolve_superseded(self) -> None:
        """Resolve (won't send) the superseded deliveries of the selection: those `s` leaves out, or left out."""
        if self.selection is None or self.plan is None or self.console.refused_read_only("resolve"):
            return
        selection = self.selection
        if self.finished is None:
            count = fmt.counted(superseded_count(self.plan), "superseded delivery", "superseded deliveries")
            which = f"the {count}"
        else:  # the job delivered newer events since the plan: more may be superseded now
            which = "the superseded deliveries of this selection"
        question = f"Resolve {which} (won't send): they leave the backlog and alerts. Why?"

        def answered(reason: str | None) -> None:
            if reason:
                self.resolve_superseded(selection, reason)

        self.app.push_screen(ReasonScreen(question, default=SUPERSEDED), answered)

    @work(thread=True, exclusive=True, group="replay-resolve", exit_on_error=False)
    def resolve_superseded(self, selection: ReplaySelection, reason: str) -> None:
        try:
            self.post_message(SupersededResolved(self.console.ops.resolve_superseded(selection, reason)))
        except ActionRefused as exc:
            self.post_message(Refused(str(exc)))

    @on(SupersededResolved)
    def superseded_resolved(self, message: SupersededResolved) -> None:
        note = resolve_note(message.outcome)
        self.query_one("#replay-outcome", Static).update(note[:1].upper() + note[1:] + ".")
        self.console.store_changed()
        if self.selection is not None and self.finished is None and not self.running:
            self._plan_again(self.selection)  # the plan without them
            self.query_one("#replay-outcome", Static).update(note[:1].upper() + note[1:] + ".")
        else:
            self._state_changed()

    def action_open_job(self) -> None:
        if self.finished is not None:
            job_id = self.finished.id
            self.dismiss(None)
            self.console.show_job(job_id)

    def action_stop(self) -> None:
        if self.running:
            self.stops += 1
            abandon = self.stops > 1
            if self.job is not None:
                self.job.stop()
            self.query_one("#replay-outcome", Static).update(
                "abandoning the requests in flight..."
                if abandon
                else "stopping after the requests in flight... (x again abandons them)"
            )

    def action_close(self) -> None:
        if self.running:
            self.notify("a replay is running: x stops it first", severity="warning")
            return
        self.dismiss(None)


def since_the_plan(plan: ReplayPlan | None, view: JobView) -> str | None:
    """Why the job sent fewer than its plan said: deliveries delivered meanwhile (the job leaves them out or
    skips them), as the CLI's "selection changed" note says."""
    if plan is None:
        return None
    would_send = view.total - view.count(ItemState.SKIPPED)
    gone = plan.to_send - would_send
    if gone > 0:
        return (
            f"{fmt.count(gone)} of the {fmt.count(plan.to_send)} planned were delivered since the plan "
            "(by the dispatcher or another replay): not sent again."
        )
    if gone < 0:
        return f"The selection changed since the plan: {fmt.count(-gone)} more to send than planned."
    return None


def _prompt(plan: ReplayPlan) -> str:
    """What to do next: send, or (forcing) give the reason first."""
    if not plan.to_send:
        return "Nothing to send." + (
            "" if plan.selection.force else " f also sends already delivered events."
        )
    if plan.selection.force:
        return (
            "Forced: already delivered events are sent again. Type the reason below, then enter sends them, "
            "signed (tab leaves the box, then f stops forcing); escape leaves."
        )
    return "Press y to send them, signed, or escape to leave."


def impact_summary(plan: ReplayPlan) -> str:
    """Two compact lines: who and what the replay touches and how long it takes; what is superseded."""
    impact = plan.impact
    if impact is None or not impact.deliveries:
        return ""
    drain = drain_time(plan_drain_seconds(plan))
    span = f"{stamp(impact.oldest_ms)} to {stamp(impact.newest_ms)}"
    line = (
        f"Impact: {fmt.counted(impact.users, 'user')}, {fmt.counted(impact.rewards, 'reward')}; {plain(amounts_text(impact))}; "
        f"events {span} UTC; drain {drain}.\n"
    )
    missing = missing_text(impact)
    if missing:
        line += f"Payloads: {plain(missing)}.\n"
    if not impact.superseded:
        return line + "Superseded: none.\n"
    sample = ", ".join(
        f"{plain(e)} at {plain(ep)} (newer {plain(n)})" for e, ep, n in impact.superseded_sample[:2]
    )
    action = "left out; s sends them" if plan.selection.skip_superseded else "s leaves them out"
    return line + f"Superseded: {fmt.count(impact.superseded)} ({action}), e.g. {sample}.\n"


def superseded_count(plan: ReplayPlan) -> int:
    """The plan's superseded deliveries (to send, or left out by `s`)."""
    return plan.impact.superseded if plan.impact is not None else 0
