"""One event: its payload as highlighted JSON, its fields, and every attempt at every endpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.live import AttemptView, EventDetail
from console.operations import ActionRefused, StoreUnavailable
from console.tui.messages import StoreProblem
from console.tui.screens.base import ConsoleAccess
from console.tui.text import literal, ms, stamp, status


@dataclass
class EventLoaded(Message):
    detail: EventDetail


@dataclass
class CheckDone(Message):
    text: str


def pretty_payload(payload: bytes) -> str:
    """Indented JSON when it parses (control characters stay escaped), else the bytes as text."""
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return payload.decode("utf-8", errors="replace")


class EventScreen(ConsoleAccess, Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("v", "verify", "Check signature"),
        Binding("c", "curl", "Copy as curl"),
        Binding("r", "replay", "Replay event"),
    ]

    def __init__(self, event_id: str) -> None:
        super().__init__()
        self.event_id = event_id
        self.detail: EventDetail | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f" event {self.event_id}"), id="event-title")
        with Horizontal(id="event-body"):
            with VerticalScroll(id="payload-pane"):
                yield Static("", id="event-fields")
                yield Static("", id="payload")
            yield DataTable(id="attempts", cursor_type="row")
        yield Static("", id="check-result")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#attempts", DataTable)
        for column in ("time", "endpoint", "try", "trigger", "status", "latency", "job"):
            table.add_column(column, key=column)
        self.load()

    @work(thread=True, exclusive=True, group="event", exit_on_error=False)
    def load(self) -> None:
        try:
            self.post_message(EventLoaded(self.console.ops.event(self.event_id)))
        except StoreUnavailable as exc:
            self.post_message(StoreProblem(str(exc)))
        except ActionRefused as exc:
            self.post_message(CheckDone(str(exc)))

    @on(EventLoaded)
    def show(self, message: EventLoaded) -> None:
        detail = self.detail = message.detail
        fields = Text()
        for label, value in (("type", detail.event_type), ("occurred", stamp(detail.occurred_at_ms)), ("user", detail.user_id),
                             ("reward", detail.reward_id), ("amount", f"{detail.amount or '-'} {detail.currency or ''}")):  # fmt: skip
            fields.append(f"{label:>9} ", style="bold")
            fields.append_text(literal(value))
            fields.append("\n")
        self.query_one("#event-fields", Static).update(fields)
        self.query_one("#payload", Static).update(
            Syntax(pretty_payload(detail.payload), "json", word_wrap=True, theme="ansi_dark")
        )
        table = self.query_one("#attempts", DataTable)
        table.clear()
        for a in detail.attempts:
            table.add_row(Text(stamp(a.attempted_at_ms)), literal(a.endpoint_id), Text(str(a.attempt)), Text(a.trigger),
                          status(a.status_code, a.outcome, a.error), Text(ms(a.latency_ms)), literal(a.replay_job_id),
                          key=str(a.seq))  # fmt: skip

    def _attempt(self) -> AttemptView | None:
        table = self.query_one("#attempts", DataTable)
        if self.detail is None or not table.row_count:
            return None
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((a for a in self.detail.attempts if str(a.seq) == key.value), None)

    def action_verify(self) -> None:
        attempt = self._attempt()
        if attempt is None or self.detail is None:
            return
        self.verify(attempt, self.detail.payload)

    @work(thread=True, exclusive=True, group="verify", exit_on_error=False)
    def verify(self, attempt: AttemptView, payload: bytes) -> None:
        try:
            text = self.console.ops.check_signature(attempt, payload)
        except ActionRefused as exc:
            text = str(exc)
        self.post_message(CheckDone(f"attempt {attempt.attempt} at {attempt.endpoint_id}: {text}"))

    @on(CheckDone)
    def checked(self, message: CheckDone) -> None:
        self.query_one("#check-result", Static).update(literal(message.text))

    def action_curl(self) -> None:
        attempt = self._attempt()
        if self.detail is None:
            return
        endpoint = (
            attempt.endpoint_id if attempt else (self.detail.endpoints[0] if self.detail.endpoints else "")
        )
        try:
            command = self.console.ops.curl(self.detail, endpoint)
        except ActionRefused as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.copy_to_clipboard(command)
        self.query_one("#check-result", Static).update(literal(command))
        self.notify("curl command copied (the secret is a placeholder)", timeout=3)

    def action_replay(self) -> None:
        if self.detail is None:
            return
        pairs = tuple((self.detail.event_id, e) for e in self.detail.endpoints)
        self.console.open_replay(DeliveryFilter(state=DeliveryState.ANY), pairs=pairs)
