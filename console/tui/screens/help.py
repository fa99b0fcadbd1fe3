"""The help screen: what each key does, where."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
hookconsole: watch, inspect and replay webhook deliveries

everywhere   d dashboard   e deliveries   j replay jobs   ctrl+p command palette
             ctrl+r write the HTML report for what is shown   t light/dark   ? help   q quit
dashboard    1 2 3 4 window 5m/1h/24h/7d   p pause/resume live refresh   r refresh now
             enter on an endpoint: its undelivered deliveries
deliveries   filter bar: state, endpoint, type, time range, status code, search (/)
             space select   a select all matching   c clear   enter open event   r replay selected   n more rows
             click a column header to sort the rows shown (again to reverse)
event        v check the highlighted attempt's signature   c copy as curl (secret as placeholder)
             r replay this event   escape back
replay       y send   x stop (the job can be resumed)   escape close
jobs         R resume   x cancel   r refresh

Figures say what they count: attempts are HTTP requests; deliveries are events at endpoints.
Payload text is shown literally. The mouse works everywhere.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static(HELP, markup=False)
