"""A small dialog that asks why: the reason a resolve or reopen records (required). Enter confirms, escape
cancels; it returns the reason, or None when cancelled."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static
from textual.widgets.input import Selection

from console.domain import formatting as fmt
from console.domain.resolutions import ResolutionAction, ResolveOutcome

MAX_REASON = 500


def resolve_note(outcome: ResolveOutcome) -> str:
    """What a resolve or reopen did, in a line."""
    if outcome.action is ResolutionAction.REOPEN:
        if not outcome.total:
            return "nothing reopened: none of them is resolved"
        return f"reopened {fmt.counted(outcome.total, 'delivery')}: undelivered again"
    if not outcome.total:
        return "nothing resolved: none of them is undelivered"
    return f"resolved {fmt.counted(outcome.total, 'delivery')} (won't send)"


class ReasonScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, default: str = "") -> None:
        super().__init__()
        self.question = question
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-dialog"):
            yield Static(self.question, id="reason-question", markup=False)
            yield Input(
                value=self.default, placeholder="why (required)", id="reason-input", max_length=MAX_REASON
            )
            yield Static("enter: confirm · escape: cancel", id="reason-hint", markup=False)

    def on_mount(self) -> None:
        box = self.query_one("#reason-input", Input)
        box.focus()
        # the prefilled reason all selected (typing replaces it), its start in view: the cursor at 0
        self.call_after_refresh(setattr, box, "selection", Selection(len(box.value), 0))

    @on(Input.Submitted, "#reason-input")
    def submitted(self, event: Input.Submitted) -> None:
        reason = event.value.strip()
        if not reason:
            self.query_one("#reason-hint", Static).update("a reason is required (escape: cancel)")
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
