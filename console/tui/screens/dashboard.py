"""The dashboard: KPI tiles, success-rate and volume sparklines, the endpoint table and the newest failures,
refreshed live by a timer-driven worker."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Sparkline, Static

from console.domain import formatting as fmt
from console.domain.alert_marks import EndpointMark
from console.domain.follow import FollowState
from console.domain.live import DashboardSnapshot
from console.domain.times import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE
from console.tui.screens.base import ConsoleAccess
from console.tui.text import clock, clock_or_date, literal, status
from console.tui.widgets.alert_marks import AlertsLine, header_count
from console.tui.widgets.chart_axis import ChartAxis
from console.tui.widgets.endpoints_table import SORTS, EndpointsTable
from console.tui.widgets.follow_line import FollowLine
from console.tui.widgets.kpi import KpiTile
from console.tui.widgets.line import Line
from console.tui.widgets.settled_table import SettledTable

WINDOWS = {"5m": 5 * MS_PER_MINUTE, "1h": MS_PER_HOUR, "24h": MS_PER_DAY, "7d": 7 * MS_PER_DAY}


@dataclass
class DashboardLoaded(Message):
    snapshot: DashboardSnapshot
    undelivered_now: dict[str, int]  # per endpoint, whenever first tried: what ranks endpoints worst first


@dataclass
class AlertsLoaded(Message):
    checked_at_ms: int
    marks: dict[str, EndpointMark]  # per endpoint: alerts firing, or a recent recovery


@dataclass
class NothingNew(Message):
    checked_at_ms: int


class DashboardScreen(ConsoleAccess, Screen[None]):
    BINDINGS = [
        Binding("1", "window('5m')", "5m"),
        Binding("2", "window('1h')", "1h"),
        Binding("3", "window('24h')", "24h"),
        Binding("4", "window('7d')", "7d"),
        Binding("p", "pause", "Pause"),
        Binding("p", "resume", "Resume"),
        Binding("s", "sort", "Sort"),
        Binding("r", "reload", "Refresh"),
        Binding("enter", "open_endpoint", "Undelivered", show=False),
    ]
    AUTO_FOCUS = "#endpoints"  # enter opens the highlighted endpoint (the worst one, first)
    window: reactive[str] = reactive("1h")
    paused: reactive[bool] = reactive(False)

    def __init__(self) -> None:
        super().__init__()
        self.last_seq = -1
        self.last_minute = -1
        self.snapshot: DashboardSnapshot | None = None
        self.marks: dict[str, EndpointMark] = {}
        self.follow_states: dict[str, FollowState] = {}

    def compose(self) -> ComposeResult:
        yield Line("", id="status-line")
        if self.console.ops.followed is not None:
            yield FollowLine(id="follow-line")
        with Horizontal(id="tiles"):
            yield KpiTile("1st-try success", short="1st-try", id="tile-first")
            yield KpiTile("final success", id="tile-final")
            yield KpiTile("attempts/s", id="tile-rate")
            yield KpiTile("latency p50", id="tile-latency")
            yield KpiTile("undelivered now", short="undelivered", id="tile-backlog")
        with Horizontal(id="charts"):
            with Vertical():
                yield Line("failed attempts", id="label-failed", classes="chart-label")
                yield Sparkline([], id="spark-failed")
                yield ChartAxis(id="axis-failed")
            with Vertical():
                yield Line("success rate (attempts)", id="label-success", classes="chart-label")
                yield Sparkline([], id="spark-success")
                yield ChartAxis(id="axis-success")
        yield EndpointsTable(id="endpoints")
        yield Line("", id="endpoints-more")
        yield AlertsLine(id="alerts-line")
        yield Static("recent failures", classes="section-label", markup=False)
        yield SettledTable(id="failures", cursor_type="row")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        failures = self.query_one("#failures", DataTable)
        for column in ("time", "endpoint", "event", "try", "status"):
            failures.add_column(column, key=column)
        self.load()
        self.timer = self.set_interval(self.console.refresh_s, self.tick)
        self.show_followed()

    def tick(self) -> None:
        self.show_followed()  # paused or not: a source in trouble is news
        if not self.paused and not self.load_running:
            self.load()

    def on_resize(self) -> None:
        self.show_followed()

    def show_followed(self) -> None:
        """The followed sources' states in the header; a source that starts failing, stops, or follows again
        after failing is also said in a notification (with its full name and reason)."""
        followed = self.console.ops.followed
        if followed is None:
            return
        statuses = followed()
        self.set_class(True, "-following")
        self.query_one(FollowLine).show_states(statuses)
        for source in statuses:
            before = self.follow_states.get(source.source, FollowState.FOLLOWING)
            self.follow_states[source.source] = source.state
            if source.state is before:
                continue
            if source.state in (FollowState.RETRYING, FollowState.STOPPED):
                self.notify(f"{source.source}: {source.text()}", severity="error", timeout=10, markup=False)
            elif before in (FollowState.RETRYING, FollowState.STOPPED):
                self.notify(f"{source.source}: reading again ({source.text()})", timeout=5, markup=False)

    @property
    def load_running(self) -> bool:
        """A load still running: a tick does not start another (on a big store a load outlasts the refresh
        interval, and loads started every tick would share the CPU until none finished)."""
        return any(w.node is self and w.group == "dashboard" and not w.is_finished for w in self.workers)

    @work(thread=True, exclusive=True, group="dashboard", exit_on_error=False)
    def load(self, force: bool = False) -> None:
        """Read only what is new: the newest attempt id first; figures only when it moved or a minute passed."""
        ops = self.console.ops
        now = ops.clock()
        minute = now // MS_PER_MINUTE
        # Alerts fire and resolve without new traffic: read them on every tick (four small indexed queries).
        self.post_message(AlertsLoaded(*ops.endpoint_marks()))
        if not force and ops.latest_seq() == self.last_seq and minute == self.last_minute:
            self.post_message(NothingNew(now))
            return
        snapshot = ops.dashboard(WINDOWS[self.window])
        undelivered = ops.undelivered_by_endpoint([e.endpoint_id for e in snapshot.stats.endpoints])
        self.post_message(DashboardLoaded(snapshot, undelivered))

    def store_changed(self) -> None:
        self.load(force=True)

    @on(NothingNew)
    def nothing_new(self, message: NothingNew) -> None:
        self.console.store_is_back()
        self._status(message.checked_at_ms)

    @on(AlertsLoaded)
    def show_alerts(self, message: AlertsLoaded) -> None:
        self.marks = message.marks
        with self.app.batch_update():
            self.query_one(EndpointsTable).mark(message.marks)
            self.query_one(AlertsLine).show_marks(message.marks, message.checked_at_ms)
            if self.snapshot is not None:
                self._status(self.snapshot.now_ms)

    @on(DashboardLoaded)
    def show(self, message: DashboardLoaded) -> None:
        snap = message.snapshot
        self.console.store_is_back()
        if snap.window_ms != WINDOWS[self.window]:
            return  # a result for a window no longer shown
        self.snapshot = snap
        self.last_seq, self.last_minute = snap.last_seq, snap.now_ms // MS_PER_MINUTE
        k = snap.stats.overall
        with self.app.batch_update():
            self.query_one("#tile-first", KpiTile).show(
                fmt.pct(k.first_attempt_success_rate), "of attempts #1"
            )
            self.query_one("#tile-final", KpiTile).show(fmt.pct(k.final_success_rate), "of deliveries")
            self.query_one("#tile-rate", KpiTile).show(
                fmt.rate(k.attempts / (snap.window_ms / 1000)), f"{fmt.count(k.attempts)} in {self.window}"
            )
            p95, p99, oldest = (
                f"p95 {fmt.latency(k.latency.p95)}",
                f"p99 {fmt.latency(k.latency.p99)}",
                fmt.age(snap.oldest_undelivered_ms, snap.now_ms),
            )
            self.query_one("#tile-latency", KpiTile).show(fmt.latency(k.latency.p50), (f"{p95} {p99}", p99))
            self.query_one("#tile-backlog", KpiTile).show(
                fmt.count(snap.backlog),
                (f"all time, oldest {oldest}", f"oldest {oldest}", f"oldest {oldest.replace(' ', '')}"),
                "red" if snap.backlog else "",
            )
            self._show_charts(snap)
            self.query_one(EndpointsTable).show(snap.stats.endpoints, snap.now_ms, message.undelivered_now)
            self._show_hidden()
            self._show_failures(snap)
            self._status(snap.now_ms)

    def _show_hidden(self) -> None:
        """Below the endpoint table, when it shows only the first MAX_ROWS: how many more, and how to find one."""
        table = self.query_one(EndpointsTable)
        more = self.query_one("#endpoints-more", Line)
        more.display = bool(table.hidden)
        if table.hidden:
            more.show(
                f" first {fmt.count(table.row_count)} of {fmt.count(table.row_count + table.hidden)} endpoints "
                f"by {table.sort_by} · any other: e, then / and its id"
            )

    def _show_charts(self, snap: DashboardSnapshot) -> None:
        """Failures, not volume: a quiet endpoint's outage would vanish under a busy one's traffic. Each chart
        scales to its own data (the success rate from its lowest point), and says its range."""
        failed = [p.attempts - p.successes for p in snap.series]
        rates = [p.success_rate for p in snap.series]
        self.query_one("#spark-failed", Sparkline).data = failed
        self.query_one("#label-failed", Line).show(
            f"failed attempts (max {fmt.count(max(failed, default=0))} per slice)"
        )
        known = [r for r in rates if r is not None]
        self.query_one("#spark-success", Sparkline).data = [r if r is not None else 1.0 for r in rates]
        low = f"lowest {fmt.pct(min(known))}" if known else "no attempts"
        self.query_one("#label-success", Line).show(f"success rate (attempts, {low})")
        start = snap.series[0].start_ms if snap.series else snap.now_ms - snap.window_ms
        for axis in self.query(ChartAxis):
            axis.show(start, snap.now_ms)

    def _show_failures(self, snap: DashboardSnapshot) -> None:
        table = self.query_one("#failures", DataTable)
        shown = [str(k.value) for k in table.rows]
        wanted = [str(f.seq) for f in snap.failures]
        if shown == wanted:
            return
        table.clear()
        cut = 20 if self.size.width < 110 else 48  # a long error ends in "…"; the event screen shows it whole
        for f in snap.failures:
            table.add_row(
                Text(clock_or_date(f.attempted_at_ms, snap.now_ms)),
                literal(f.endpoint_id),
                literal(f.event_id),
                Text(str(f.attempt)),
                status(f.status_code, f.outcome, f.error, width=cut),
                key=str(f.seq),
            )

    def _status(self, now_ms: int) -> None:
        alerts = header_count(self.marks)  # first; below 110 columns it takes the place of "live every 2s"
        mark = "paused" if self.paused else f"live every {self.console.refresh_s:g}s"
        mark = "" if alerts and not self.paused and self.size.width < 110 else f" · {mark}"
        line = f" window {self.window} · updated {clock(now_ms)} UTC{mark} · {self.console.ops.store_name}"
        self.query_one("#status-line", Line).show(Text.assemble(" ", alerts, line) if alerts else line)

    def action_window(self, name: str) -> None:
        self.window = name
        self.load(force=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Two `p` bindings, one live at a time: the footer says "Pause" while live and "Resume" while paused."""
        if action == "pause":
            return not self.paused
        if action == "resume":
            return self.paused
        return True

    def watch_paused(self) -> None:
        self.refresh_bindings()

    def action_pause(self) -> None:
        self.action_toggle_pause()

    def action_resume(self) -> None:
        self.action_toggle_pause()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.notify("live refresh paused" if self.paused else "live refresh resumed", timeout=2)
        if self.snapshot is not None:
            self._status(self.snapshot.now_ms)

    def action_sort(self) -> None:
        table = self.query_one(EndpointsTable)
        table.sort_by = SORTS[(SORTS.index(table.sort_by) + 1) % len(SORTS)]
        table.reorder()
        self._show_hidden()
        self.notify(f"endpoints sorted by {table.sort_by}", timeout=2)

    def action_reload(self) -> None:
        self.load(force=True)

    def action_open_endpoint(self) -> None:
        table = self.query_one(EndpointsTable)
        endpoint_id = table.current_endpoint()
        if endpoint_id is not None:
            self.console.show_deliveries(endpoint_id=endpoint_id, state="undelivered")

    @on(DataTable.RowSelected, "#endpoints")
    def endpoint_chosen(self) -> None:
        """Enter (or a click) on an endpoint: its undelivered deliveries."""
        self.action_open_endpoint()
