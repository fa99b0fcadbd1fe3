"""One event: its payload as highlighted JSON (a big one: its first part, and a key to save it whole), its
fields, and every attempt at every endpoint, grouped by endpoint (the one it was opened from first). The
attempts' table has the focus: the arrows choose the attempt that `v`, `c` and `r` act on. `r` replays the event
to the chosen attempt's endpoint only (the operator came for that one; the others may have it already); `R`
replays it to every endpoint it went to."""

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

from console.domain import formatting as fmt
from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.live import AttemptView, EventDetail
from console.domain.resolutions import ResolutionAction
from console.operations import REPORTS_FOLDER, ActionRefused
from console.tui.clipboard import clipboard_refused
from console.tui.screens.base import ConsoleAccess
from console.tui.screens.columns import FitsColumns, columns_for
from console.tui.text import literal, plain, stamp, status
from console.tui.widgets.settled_table import SettledTable

PREVIEW_BYTES = 64 * 1024  # a bigger payload shows this much, unformatted; `s` saves it whole


@dataclass
class EventLoaded(Message):
    detail: EventDetail


@dataclass
class CheckDone(Message):
    text: str


@dataclass
class CurlReady(Message):
    snippet: str
    endpoint_id: str
    saved_to: str | None  # where the snippet was written when the terminal refuses the clipboard
    refused: str | None


def pretty_payload(payload: bytes) -> str:
    """Indented JSON when it parses, else the bytes as text; control and bidi characters escaped."""
    try:
        text = json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        text = payload.decode("utf-8", errors="replace")
    return "\n".join(plain(line) for line in text.split("\n"))


def payload_view(payload: bytes) -> Syntax | Text:
    """A payload up to PREVIEW_BYTES as highlighted JSON; a bigger one as its first PREVIEW_BYTES, unparsed,
    under a line giving its size and where `s` saves it (formatting 50 MB froze the console and took 1.8 GB)."""
    if len(payload) <= PREVIEW_BYTES:
        return Syntax(pretty_payload(payload), "json", word_wrap=True, theme="ansi_dark")
    head = payload[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    note = (
        f"payload {fmt.data_size(len(payload))}: the first {fmt.data_size(PREVIEW_BYTES)} shown. "
        f"s saves it whole to {REPORTS_FOLDER.absolute()}/\n\n"
    )
    text = Text(note, style="bold yellow")
    text.append("\n".join(plain(line) for line in head.split("\n")))
    text.append(" ...", style="dim")
    return text


# The attempts' columns that fit, by the least screen width they need.
ATTEMPT_COLUMNS = ("time", "endpoint", "try", "trigger", "status", "latency", "job")
ATTEMPT_COLUMN_SETS = [
    (118, ATTEMPT_COLUMNS),
    (96, ("time", "endpoint", "try", "status", "latency", "job")),
    (0, ("time", "endpoint", "try", "trigger", "status", "latency")),
]


class AttemptsTable(SettledTable):
    """The attempts: the footer says the arrows choose one (while the table has the focus)."""

    BINDINGS = [Binding("up", "cursor_up", "Pick", key_display="↑↓", tooltip="Choose an attempt")]


class EventScreen(ConsoleAccess, FitsColumns, Screen[None]):
    WRITE_ACTIONS = frozenset({"replay", "replay_all"})  # hidden in read-only mode
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("v", "verify", "Verify"),
        Binding("c", "curl", "curl"),
        # the footer at 80 columns holds the arrows only without Save and R (help and ctrl+p list them)
        Binding("s", "save_payload", "Save", show=False),
        Binding("r", "replay", "Replay"),  # to the chosen attempt's endpoint
        Binding("R", "replay_all", "Replay to every endpoint", show=False),
        # One of the two at a time (check_action): the footer says where tab goes.
        Binding("tab", "focus_payload", "Payload"),
        Binding("tab", "focus_attempts", "Attempts"),
    ]

    AUTO_FOCUS = "#attempts"  # the arrows move between attempts (tab: to the payload, to scroll it)

    def __init__(self, event_id: str, endpoint_id: str | None = None) -> None:
        super().__init__()
        self.event_id = event_id
        self.endpoint_id = (
            endpoint_id  # the delivery it was opened from: its attempts first, its newest chosen
        )
        self.detail: EventDetail | None = None
        self.shown_columns: tuple[str, ...] = ()
        self.wide = True

    def compose(self) -> ComposeResult:
        yield Static(Text(f" event {plain(self.event_id)}"), id="event-title")
        with Horizontal(id="event-body"):
            with VerticalScroll(id="payload-pane"):
                yield Static("", id="event-fields")
                yield Static("", id="payload")
            yield AttemptsTable(id="attempts", cursor_type="row")
        with VerticalScroll(id="check-pane"):
            yield Static("", id="check-result")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._fit_columns(self.app.size.width)
        self.load()

    def _fit_columns(self, width: int) -> None:
        wanted, wide = columns_for(ATTEMPT_COLUMN_SETS, width)
        if wanted == self.shown_columns:
            return
        self.shown_columns, self.wide = wanted, wide
        table = self.query_one("#attempts", DataTable)
        table.clear(columns=True)
        for column in wanted:
            table.add_column(column, key=column)
        self._show_attempts()

    @work(thread=True, exclusive=True, group="event", exit_on_error=False)
    def load(self) -> None:
        try:
            self.post_message(EventLoaded(self.console.ops.event(self.event_id)))
        except ActionRefused as exc:
            self.post_message(CheckDone(str(exc)))

    def store_changed(self) -> None:
        self.load()  # a replay adds attempts

    @on(EventLoaded)
    def show(self, message: EventLoaded) -> None:
        detail = self.detail = message.detail
        fields = Text()
        for label, value in (
            ("type", detail.event_type),
            ("occurred", stamp(detail.occurred_at_ms)),
            ("user", detail.user_id),
            ("reward", detail.reward_id),
            ("amount", f"{detail.amount or '-'} {detail.currency or ''}"),
        ):
            fields.append(f"{label:>9} ", style="bold")
            fields.append_text(literal(value))
            fields.append("\n")
        for r in detail.resolutions:  # who left a delivery out (won't send) or reopened it, when and why
            label = "resolved" if r.action is ResolutionAction.RESOLVE else "reopened"
            fields.append(f"{label:>9} ", style="bold yellow" if label == "resolved" else "bold")
            fields.append_text(literal(f"{r.endpoint_id} {stamp(r.at_ms)} by {r.operator}: {r.reason}"))
            fields.append("\n")
        self.query_one("#event-fields", Static).update(fields)
        self.query_one("#payload", Static).update(payload_view(detail.payload))
        self._show_attempts()

    def _grouped(self) -> list[AttemptView]:
        """The attempts by endpoint (the one opened from first), each endpoint's in the order they were made."""
        attempts = self.detail.attempts if self.detail else ()
        return sorted(
            attempts,
            key=lambda a: (a.endpoint_id != self.endpoint_id, a.endpoint_id, a.attempted_at_ms, a.seq),
        )

    def _show_attempts(self) -> None:
        table = self.query_one("#attempts", DataTable)
        chosen = self._attempt()
        table.clear()
        attempts = self._grouped()
        for a in attempts:
            at = stamp(a.attempted_at_ms)
            cells = {
                "time": Text(at if self.wide else at[5:]),
                "endpoint": literal(a.endpoint_id),
                "try": Text(str(a.attempt)),
                "trigger": literal(a.trigger),
                "status": status(a.status_code, a.outcome, a.error, 24 if self.wide else 16),
                "latency": Text(fmt.latency(a.latency_ms)),
                "job": literal(a.replay_job_id),
            }
            table.add_row(*(cells[c] for c in self.shown_columns), key=str(a.seq))
        if chosen is None:  # first shown: the newest attempt at the endpoint opened from
            chosen = next((a for a in reversed(attempts) if a.endpoint_id == self.endpoint_id), None)
        keys = [a.seq for a in attempts]
        if chosen is not None and chosen.seq in keys:  # a reload (a replay added attempts) keeps the choice
            table.move_cursor(row=keys.index(chosen.seq), animate=False)

    def _attempt(self) -> AttemptView | None:
        table = self.query_one("#attempts", DataTable)
        if self.detail is None or not table.row_count:
            return None
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((a for a in self.detail.attempts if str(a.seq) == key.value), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        on_attempts = self.focused is None or self.focused.id == "attempts"
        if action == "focus_payload":
            return on_attempts
        if action == "focus_attempts":
            return not on_attempts
        return super().check_action(action, parameters)

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def action_focus_payload(self) -> None:
        self.query_one("#payload-pane").focus()

    def action_focus_attempts(self) -> None:
        self.query_one("#attempts").focus()

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
        self.make_curl(self.detail, endpoint)

    @work(thread=True, exclusive=True, group="curl", exit_on_error=False)
    def make_curl(self, detail: EventDetail, endpoint_id: str) -> None:
        """Build the snippet (reads endpoints.toml; may save a big payload) and, when the terminal will drop a
        copy, write it to a file."""
        try:
            snippet = self.console.ops.curl(detail, endpoint_id)
            refused = clipboard_refused()
            saved = (
                str(self.console.ops.save_curl(detail.event_id, endpoint_id, snippet)) if refused else None
            )
        except ActionRefused as exc:
            self.post_message(CheckDone(str(exc)))
            return
        self.post_message(CurlReady(snippet, endpoint_id, saved, refused))

    @on(CurlReady)
    def curl_ready(self, message: CurlReady) -> None:
        if message.refused is None:
            self.app.copy_to_clipboard(message.snippet)
            where = "copied to the clipboard"
        else:
            where = f"the terminal refuses the clipboard ({message.refused}): written to {message.saved_to}"
        shown = Text(
            f"curl for {plain(message.endpoint_id)}, {where}. Set $WEBHOOK_SECRET, then run it:\n",
            style="bold",
        )
        for line in message.snippet.splitlines():
            shown.append(plain(line) + "\n")
        self.query_one("#check-result", Static).update(shown)

    def action_save_payload(self) -> None:
        if self.detail is not None:
            self.save_payload(self.detail)

    @work(thread=True, exclusive=True, group="save-payload", exit_on_error=False)
    def save_payload(self, detail: EventDetail) -> None:
        path = self.console.ops.save_payload(detail.event_id, detail.payload)
        self.post_message(
            CheckDone(f"payload of {detail.event_id} ({fmt.data_size(len(detail.payload))}) saved to {path}")
        )

    def action_replay(self) -> None:
        """Plan this event for the chosen attempt's endpoint (the one opened from, before any is chosen)."""
        if self.detail is None:
            return
        attempt = self._attempt()
        endpoint = attempt.endpoint_id if attempt is not None else self.endpoint_id
        if endpoint is None:  # no attempt to go by: every endpoint, as R
            self.action_replay_all()
            return
        self.console.open_replay(
            DeliveryFilter(state=DeliveryState.ANY), pairs=((self.detail.event_id, endpoint),)
        )

    def action_replay_all(self) -> None:
        """Plan this event for every endpoint it went to."""
        if self.detail is None:
            return
        pairs = tuple((self.detail.event_id, e) for e in self.detail.endpoints)
        self.console.open_replay(DeliveryFilter(state=DeliveryState.ANY), pairs=pairs)
