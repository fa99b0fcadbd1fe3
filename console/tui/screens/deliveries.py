"""The deliveries explorer: a filter bar, a paged table (keyset pages, never everything), selection. It reloads
when new attempts arrive (live refresh) and after any action that changes the store, keeping the highlighted row
and the scroll position where those rows still exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Select, Static

from console.domain import formatting as fmt
from console.domain.deliveries import DeliveryRow, PageCursor
from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.resolutions import ResolveOutcome
from console.domain.times import MS_PER_DAY, MS_PER_HOUR
from console.domain.where import Where, WhereError, looks_like_where
from console.operations import ActionRefused
from console.tui.screens.base import ConsoleAccess
from console.tui.screens.columns import FitsColumns, columns_for
from console.tui.screens.reason import ReasonScreen, resolve_note
from console.tui.text import literal, plain, stamp, status
from console.tui.widgets.line import Line
from console.tui.widgets.settled_table import SettledTable

PAGE = 100
RANGES = [("last 1h", MS_PER_HOUR), ("last 24h", MS_PER_DAY), ("last 7d", 7 * MS_PER_DAY), ("all time", 0)]
STATES = [
    ("any state", "any"),
    ("undelivered", "undelivered"),
    ("ever failed", "failed"),
    ("delivered", "delivered"),
    ("resolved", "resolved"),
]
MAX_CHOICES = 1000  # endpoints offered in the filter's list
COLUMNS = ("sel", "first attempt", "event", "endpoint", "type", "user", "tries", "last", "state")
# The columns that fit, by the least screen width they need (nothing hidden off to the right, nothing cut).
COLUMN_SETS = [
    (150, COLUMNS),
    (118, ("sel", "first attempt", "event", "endpoint", "type", "tries", "last", "state")),
    (96, ("sel", "first attempt", "event", "endpoint", "tries", "last", "state")),
    (0, ("sel", "first attempt", "event", "endpoint", "last", "state")),  # shorter times, errors and labels
]
NARROW = 96  # below: "MM-DD HH:MM" times, errors cut at NARROW_ERROR, short column labels
NARROW_ERROR = 10
NARROW_LABELS = {"sel": "✓", "first attempt": "first"}


@dataclass
class PageLoaded(Message):
    rows: list[DeliveryRow]
    append: bool
    total: int | None
    generation: int
    seq: int  # the newest attempt when the page was read
    limit: int


@dataclass
class NewAttemptsSeen(Message):
    seq: int


@dataclass
class ResolveDone(Message):
    outcome: ResolveOutcome


@dataclass
class ChoicesLoaded(Message):
    endpoints: list[str]
    event_types: list[str]


def _sort_key(cell: object) -> tuple[int, int, str]:
    """Numbers sort as numbers, the rest as text."""
    text = str(cell)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def _selection_mark(selected: bool) -> Text:
    """The `sel` cell: a tick on a selected row."""
    return Text("✓" if selected else " ", style="bold")


class DeliveriesScreen(ConsoleAccess, FitsColumns, Screen[None]):
    WRITE_ACTIONS = frozenset({"replay", "resolve", "reopen"})  # hidden in read-only mode
    BINDINGS = [
        Binding("space", "toggle_row", "Select"),
        Binding("a", "select_all", "All"),
        Binding("c", "clear_selection", "Clear"),
        Binding("enter", "open_event", "Event"),
        Binding("r", "replay", "Replay"),
        Binding("w", "resolve", "Resolve", tooltip="Won't send: leave out of the backlog, with a reason"),
        Binding("W", "reopen", "Reopen", show=False, tooltip="Make resolved deliveries undelivered again"),
        Binding("n", "next_page", "More"),
        Binding("slash", "search", "Search"),
        # it refreshes live: off the footer (room for w at 80 columns); help and the palette list it
        Binding("f5", "refresh_now", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = DeliveryFilter(state=DeliveryState.ANY)
        self.rows: dict[str, DeliveryRow] = {}
        self.selected: set[tuple[str, str]] = set()
        self.all_matching = False
        self.total: int | None = None
        self.cursor: PageCursor | None = None
        self.exhausted = False
        self.generation = 0
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.seen_seq: int | None = None
        self.shown_columns: tuple[str, ...] = ()
        self.wide = True  # full timestamps and error texts (from 150 columns)
        self.narrow = False  # times to the minute, short errors and states (below NARROW columns)
        self._keep: tuple[str | None, float, float] | None = (
            None  # cursor row key and scroll, across a reload
        )

    def compose(self) -> ComposeResult:
        with Horizontal(id="filters"):
            yield Select(STATES, value="any", allow_blank=False, id="f-state")
            yield Select([], prompt="endpoint", id="f-endpoint")
            yield Select([], prompt="event type", id="f-type")
            yield Select(RANGES, value=0, allow_blank=False, id="f-range")
            yield Input(placeholder="status", id="f-status", type="integer", max_length=3)
            yield Input(placeholder="event, endpoint, user or reward id", id="f-search")
        yield Line("", id="selection-line")
        yield SettledTable(id="deliveries", cursor_type="row")
        yield Static("", id="empty-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#deliveries", DataTable)
        self._fit_columns(self.app.size.width)
        table.focus()
        self._show_filter_in_bar(self.filter)
        self.load_choices()
        self.reload()
        self.set_interval(self.console.refresh_s, self.poll)

    def _fit_columns(self, width: int) -> None:
        """Show the columns that fit `width`; the rows already read are drawn again with them."""
        wanted, wide = columns_for(COLUMN_SETS, width)
        if wanted == self.shown_columns:
            return
        self.shown_columns, self.wide = wanted, wide
        table = self.query_one("#deliveries", DataTable)
        table.clear(columns=True)
        self.narrow = width < NARROW
        for column in wanted:
            table.add_column(NARROW_LABELS.get(column, column) if self.narrow else column, key=column)
        for key, row in self.rows.items():
            table.add_row(*self._cells(row), key=key)
        if self.sort_column in wanted:
            table.sort(self.sort_column, key=_sort_key, reverse=self.sort_reverse)

    def poll(self) -> None:
        """Live refresh: look for new attempts (one cheap query); reload only when there are some."""
        if self.is_current and self.seen_seq is not None:
            self.check_new_attempts()

    @work(thread=True, exclusive=True, group="deliveries-poll", exit_on_error=False)
    def check_new_attempts(self) -> None:
        self.post_message(NewAttemptsSeen(self.console.ops.latest_seq()))

    @on(NewAttemptsSeen)
    def new_attempts_seen(self, message: NewAttemptsSeen) -> None:
        if self.seen_seq is not None and message.seq != self.seen_seq:
            self.reload(keep_place=True)

    def store_changed(self) -> None:
        self.reload(keep_place=True)
        self.load_choices()

    def action_refresh_now(self) -> None:
        self.store_changed()

    def set_filter(self, flt: DeliveryFilter) -> None:
        """Show a given filter (from the dashboard) and reflect it in the filter bar (once it is mounted)."""
        self.filter = flt
        self.selected.clear()
        if not self.is_mounted:
            return  # on_mount shows self.filter
        self._show_filter_in_bar(flt)
        self.reload()

    def _show_filter_in_bar(self, flt: DeliveryFilter) -> None:
        with self.prevent(Select.Changed):
            self.query_one("#f-state", Select).value = flt.state.value
            if flt.endpoint_ids:
                self.query_one("#f-endpoint", Select).set_options([(literal(e), e) for e in flt.endpoint_ids])
                self.query_one("#f-endpoint", Select).value = flt.endpoint_ids[0]

    @work(thread=True, exclusive=True, group="choices", exit_on_error=False)
    def load_choices(self) -> None:
        endpoints, types = self.console.ops.filter_choices()
        self.post_message(ChoicesLoaded(endpoints, types))

    @on(ChoicesLoaded)
    def choices(self, message: ChoicesLoaded) -> None:
        endpoint, kind = self.query_one("#f-endpoint", Select), self.query_one("#f-type", Select)
        with self.prevent(Select.Changed):
            current = endpoint.value
            current_kind = kind.value
            # Stored ids are shown as literal text: an id like `ep_[/]` is not markup. The list holds the first
            # MAX_CHOICES by name (a longer one takes Textual seconds to build); search finds any endpoint by id.
            shown = message.endpoints[:MAX_CHOICES]
            if isinstance(current, str) and current in message.endpoints and current not in shown:
                shown.append(current)
            endpoint.set_options([(literal(e), e) for e in shown])
            if isinstance(current, str) and current in shown:
                endpoint.value = current
            kind.set_options([(literal(t), t) for t in message.event_types])
            if isinstance(current_kind, str) and current_kind in message.event_types:
                kind.value = current_kind

    def reload(self, keep_place: bool = False) -> None:
        """Read the first rows again; `keep_place` (a refresh) keeps as many rows as shown, the highlighted row,
        the scroll position and a hand-made selection, where those rows still exist."""
        self.generation += 1
        limit = PAGE
        if keep_place and self.is_mounted:
            table = self.query_one("#deliveries", DataTable)
            current = self._current()
            self._keep = (self._key(current) if current else None, table.scroll_x, table.scroll_y)
            limit = max(PAGE, len(self.rows))
        else:
            self._keep = None
            self.all_matching = False
        self.cursor = None
        self.exhausted = False
        self.load_page(self.filter, None, self.generation, append=False, limit=limit)

    @staticmethod
    def _key(row: DeliveryRow) -> str:
        return f"{row.event_id}|{row.endpoint_id}"

    @work(thread=True, exclusive=True, group="deliveries", exit_on_error=False)
    def load_page(
        self, flt: DeliveryFilter, after: PageCursor | None, generation: int, append: bool, limit: int = PAGE
    ) -> None:
        ops = self.console.ops
        seq = ops.latest_seq()
        rows = ops.deliveries(flt, after, limit)
        total = None if append else ops.count(flt)
        self.post_message(PageLoaded(rows, append, total, generation, seq, limit))

    @on(PageLoaded)
    def show_page(self, message: PageLoaded) -> None:
        if message.generation != self.generation:
            return  # the filter changed since
        self.console.store_is_back()
        self.seen_seq = message.seq
        table = self.query_one("#deliveries", DataTable)
        if not message.append:
            self._replace_rows(table, message.rows)
            self.total = message.total
        else:
            for row in message.rows:
                key = self._key(row)
                if key not in self.rows:
                    self.rows[key] = row
                    table.add_row(*self._cells(row), key=key)
        self.exhausted = len(message.rows) < message.limit
        if message.rows:
            last = message.rows[-1]
            self.cursor = PageCursor(last.first_attempt_at_ms, last.event_id, last.endpoint_id)
        self._selection_line()

    def _replace_rows(self, table: DataTable[Any], rows: list[DeliveryRow]) -> None:
        """A first page or a refresh. When the same rows come back, only changed cells are redrawn; otherwise
        the table is refilled, and the highlighted row and scroll position are put back where they still exist."""
        wanted = {self._key(r): r for r in rows}
        keep, self._keep = self._keep, None
        if keep is not None:
            self.selected &= {r.key for r in rows}
        if keep is not None and list(wanted) == list(self.rows):
            with self.app.batch_update():
                for key, row in wanted.items():
                    if row != self.rows[key]:
                        for column, cell in zip(self.shown_columns, self._cells(row), strict=True):
                            table.update_cell(key, column, cell, update_width=True)
            self.rows = wanted
            return
        table.clear()
        for shown in table.columns.values():  # widths follow the new rows: a long error gone, its width goes
            shown.content_width = shown.label.cell_len
        self.rows = wanted
        for key, row in wanted.items():
            table.add_row(*self._cells(row), key=key)
        if self.sort_column in self.shown_columns:
            table.sort(self.sort_column, key=_sort_key, reverse=self.sort_reverse)
        if keep is not None:
            current, scroll_x, scroll_y = keep
            if current in wanted:
                table.move_cursor(row=table.get_row_index(current), animate=False, scroll=False)
            self.call_after_refresh(table.scroll_to, scroll_x, scroll_y, animate=False)

    def _cells(self, row: DeliveryRow) -> list[Text]:
        selected = self.all_matching or row.key in self.selected
        if row.delivered:
            state = Text("ok" if self.narrow else "delivered", style="green")
        elif row.resolved:
            state = Text("resolv" if self.narrow else "resolved", style="yellow")
        else:
            state = Text("undeliv" if self.narrow else "undelivered", style="bold red")
        first = stamp(row.first_attempt_at_ms)
        error_width = None if self.wide else NARROW_ERROR if self.narrow else 20
        cells = {
            "sel": _selection_mark(selected),
            "first attempt": Text(first if self.wide else first[5:16] if self.narrow else first[5:]),
            "event": literal(row.event_id),
            "endpoint": literal(row.endpoint_id),
            "type": literal(row.event_type),
            "user": literal(row.user_id),
            "tries": Text(str(row.attempts)),
            "last": status(row.last_status_code, row.last_outcome, row.last_error, error_width),
            "state": state,
        }
        return [cells[column] for column in self.shown_columns]

    def _selection_line(self) -> None:
        total = "?" if self.total is None else fmt.count(self.total)
        chosen = f"all {total} matching" if self.all_matching else f"{fmt.count(len(self.selected))} selected"
        more = "" if self.exhausted else " · n: more"
        described = plain(self.filter.describe())
        line = f" {total} match · {fmt.count(len(self.rows))} shown{more} · {chosen} · {described}"
        self.query_one("#selection-line", Line).show(line)  # one row: no layout on a live refresh
        note = self.query_one("#empty-note", Static)
        note.display = self.total == 0
        if self.total == 0:
            note.update(Text(f"nothing matches: {described}. Change the filters above, or f5 to refresh."))

    @on(Select.Changed)
    @on(Input.Submitted)
    def filter_changed(self) -> None:
        try:
            self.filter = self._read_filter()
        except WhereError as exc:
            self.notify(plain(f"search: {exc}"), severity="error", markup=False)
            return
        self.selected.clear()
        self.reload()

    def _read_filter(self) -> DeliveryFilter:
        state = self.query_one("#f-state", Select).value
        endpoint = self.query_one("#f-endpoint", Select).value
        kind = self.query_one("#f-type", Select).value
        span = self.query_one("#f-range", Select).value
        code = self.query_one("#f-status", Input).value.strip()
        search = self.query_one("#f-search", Input).value.strip()
        where = None
        if looks_like_where(search):  # a payload filter, as `--where` takes it: `amount >= 1000`
            where = Where.parse(search)  # WhereError names what is wrong and where
            search = ""
        now = self.console.ops.clock()
        return DeliveryFilter(
            since_ms=now - span if isinstance(span, int) and span else None,
            endpoint_ids=(endpoint,) if isinstance(endpoint, str) else (),
            event_types=(kind,) if isinstance(kind, str) else (),
            state=DeliveryState(state if isinstance(state, str) else "any"),
            status_codes=(int(code),) if code.isdigit() and 100 <= int(code) <= 599 else (),
            search=search or None,
            where=where,
        )

    def _current(self) -> DeliveryRow | None:
        table = self.query_one("#deliveries", DataTable)
        if not table.row_count:
            return None
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self.rows.get(str(key.value))

    def action_toggle_row(self) -> None:
        row = self._current()
        if row is None:
            return
        if self.all_matching:
            self.all_matching = False
            self.selected = {r.key for r in self.rows.values()}
        self.selected ^= {row.key}
        table = self.query_one("#deliveries", DataTable)
        table.update_cell(self._key(row), "sel", _selection_mark(row.key in self.selected))
        self._selection_line()

    def action_select_all(self) -> None:
        self.all_matching = True
        self._redraw_marks()

    def action_clear_selection(self) -> None:
        self.all_matching = False
        self.selected.clear()
        self._redraw_marks()

    def _redraw_marks(self) -> None:
        table = self.query_one("#deliveries", DataTable)
        for key, row in self.rows.items():
            table.update_cell(key, "sel", _selection_mark(self.all_matching or row.key in self.selected))
        self._selection_line()

    def action_next_page(self) -> None:
        if not self.exhausted and self.cursor is not None:
            self.load_page(self.filter, self.cursor, self.generation, append=True)

    @on(DataTable.HeaderSelected, "#deliveries")
    def sort_by(self, event: DataTable.HeaderSelected) -> None:
        """Click a column header (or press enter on it) to sort the rows shown by it; again to reverse."""
        column = str(event.column_key.value)
        if column == "sel":
            return
        reverse = self.sort_column == column and not self.sort_reverse
        self.sort_column, self.sort_reverse = column, reverse
        event.data_table.sort(column, key=_sort_key, reverse=reverse)

    @on(DataTable.RowHighlighted)
    def near_end(self, event: DataTable.RowHighlighted) -> None:
        if self.sort_column is None and event.cursor_row >= event.data_table.row_count - 5:
            self.action_next_page()

    def action_open_event(self) -> None:
        row = self._current()
        if row is not None:
            self.console.show_event(row.event_id, row.endpoint_id)

    @on(DataTable.RowSelected)
    def row_selected(self) -> None:
        self.action_open_event()

    def action_search(self) -> None:
        self.query_one("#f-search", Input).focus()

    def _chosen(self) -> tuple[tuple[tuple[str, str], ...] | None, int] | None:
        """What a key acts on: all matching (pairs None), the marked rows, or else the highlighted row; with
        how many deliveries that is."""
        if self.all_matching:
            return None, self.total or 0
        if self.selected:
            return tuple(sorted(self.selected)), len(self.selected)
        row = self._current()
        return ((row.key,), 1) if row is not None else None

    def action_resolve(self) -> None:
        self._ask_and_change(reopen=False)

    def action_reopen(self) -> None:
        self._ask_and_change(reopen=True)

    def _ask_and_change(self, reopen: bool) -> None:
        if self.console.refused_read_only("reopen" if reopen else "resolve"):
            return
        chosen = self._chosen()
        if chosen is None:
            self.notify("nothing to act on: select deliveries first", severity="warning")
            return
        pairs, count = chosen
        what = fmt.counted(count, "delivery")
        question = (
            f"Reopen {what}: resolved ones become undelivered again. Why?"
            if reopen
            else f"Resolve {what} (won't send): undelivered ones leave the backlog, alerts and replays. Why?"
        )
        flt = self.filter

        def answered(reason: str | None) -> None:
            if reason:
                self.change_resolution(flt, pairs, reason, reopen)

        self.app.push_screen(ReasonScreen(question), answered)

    @work(thread=True, exclusive=True, group="resolve", exit_on_error=False)
    def change_resolution(
        self, flt: DeliveryFilter, pairs: tuple[tuple[str, str], ...] | None, reason: str, reopen: bool
    ) -> None:
        try:
            self.post_message(ResolveDone(self.console.ops.resolve(flt, pairs, reason, reopen=reopen)))
        except ActionRefused as exc:
            self.app.call_from_thread(self.notify, plain(str(exc)), severity="error", markup=False)

    @on(ResolveDone)
    def resolution_changed(self, message: ResolveDone) -> None:
        self.notify(resolve_note(message.outcome), markup=False)
        self.selected.clear()
        self.all_matching = False
        self.console.store_changed()

    def action_replay(self) -> None:
        if self.all_matching:
            self.console.open_replay(self.filter, pairs=None)
        elif self.selected:
            self.console.open_replay(self.filter, pairs=tuple(sorted(self.selected)))
        else:
            self.notify("select deliveries first (space, or a for all matching)", severity="warning")
