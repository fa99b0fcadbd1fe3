"""The help screen: what each key does, where; one key per line, so nothing wraps at any width."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.tui.widgets.alert_marks import LEGEND

KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "everywhere",
        [
            ("d e j", "dashboard, deliveries, replay jobs"),
            ("ctrl+p", "command palette"),
            ("ctrl+r", "HTML report of what is shown"),
            ("t", "light / dark theme"),
            ("?", "this help"),
            ("q", "quit"),
        ],
    ),
    (
        "dashboard",
        [
            ("1 2 3 4", "window 5m / 1h / 24h / 7d"),
            ("p", "pause / resume the live refresh"),
            ("s", "sort: worst first, name, attempts"),
            ("r", "refresh now"),
            ("enter", "the endpoint's undelivered deliveries"),
        ],
    ),
    ("marks", LEGEND),  # the dashboard's endpoint rows, and the header's count of alerts firing
    (
        "deliveries",
        [
            ("filters", "state, endpoint, type, time, status"),
            ("/", "search"),
            ("space", "select the row"),
            ("a", "select all matching"),
            ("c", "clear the selection"),
            ("enter", "open the event"),
            ("r", "replay the selection"),
            ("w", "won't send: resolve the selection (or row), asks why"),
            ("W", "reopen resolved ones: undelivered again, asks why"),
            ("n", "load more rows"),
            ("f5", "refresh (it also does so live)"),
            ("click", "a column header sorts the rows shown"),
        ],
    ),
    (
        "event",
        [
            ("↑ ↓", "choose an attempt (grouped by endpoint)"),
            ("tab", "to the payload and back (arrows scroll it)"),
            ("v", "check the chosen attempt's signature"),
            ("c", "copy the chosen attempt as curl (openssl)"),
            ("s", "save the whole payload (reports/)"),
            ("r", "replay this event to the chosen attempt's endpoint"),
            ("R", "replay this event to every endpoint it went to"),
            ("escape", "back"),
        ],
    ),
    (
        "replay",
        [
            ("y", "send"),
            ("s", "skip superseded events (or send them again)"),
            ("f", "force: send already delivered events too; asks why"),
            ("w", "resolve the superseded ones (won't send), asks why"),
            ("enter", "in the reason box: send"),
            ("x", "stop (the job can be resumed)"),
            ("o", "open the job, once it has ended"),
            ("escape", "close"),
        ],
    ),
    ("jobs", [("R", "resume"), ("x", "cancel"), ("r", "refresh")]),
]

NOTES = (
    "Figures say what they count: attempts are HTTP requests; deliveries are events at endpoints. "
    "Stored text is shown literally. The mouse works everywhere. Copy as curl uses the terminal's clipboard "
    "(OSC 52); inside tmux without `set-clipboard on`, or with HOOKCONSOLE_NO_CLIPBOARD set, it writes "
    "reports/curl-EVENT-ENDPOINT.sh instead and says so. "
    "Read-only mode (hookconsole --read-only tui, or HOOKCONSOLE_READ_ONLY=1) shows a badge and hides replay, "
    "resume, cancel, force, resolve and reopen. Resolved (won't send) deliveries leave the backlog, alerts and "
    "replays; the event screen lists who resolved them, when and why. Jobs record who started them (this user@host) and, when forced, the reason "
    "typed in the replay window, required then; the job list shows who and why. "
    'The explorer\'s search (/) finds an event, endpoint, user or reward by its id, and also takes a payload filter, as --where does: amount >= 1000 and currency = "EUR".'
)


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(style="bold yellow", no_wrap=True)
    table.add_column()
    for section, keys in KEYS:
        for index, (key, what) in enumerate(keys):
            table.add_row(section if index == 0 else "", key, what)
        table.add_row("", "", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static(Text("hookconsole: watch, inspect and replay webhook deliveries\n", style="bold"))
            yield Static(help_table())
            yield Static(NOTES, markup=False)
