"""Reports as of their generation time, on a store whose dispatcher stopped writing an hour ago: ages from now,
incidents clipped to now and marked ongoing, ranked by harm, one undelivered figure (equal to `stats --json` and
to a count by hand), the filters applied and ignored, in-flight events never missing, a summary on top, and
every table's header over its own column."""

from __future__ import annotations

import csv
import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.analytics.build import build_report_data
from console.domain import formatting as fmt
from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.gaps import GapRules
from console.domain.times import MS_PER_HOUR, MS_PER_MINUTE, format_ms, now_ms, parse_rfc3339_ms
from console.domain.whatif import parse_schedule
from console.domain.where import Where
from console.ingest.service import ingest_sources
from console.report.html_page import render_report
from console.store import Store, aggregates
from console.store.aggregates import IncidentReach
from console.store.gaps import find_gaps
from tests.helpers import log_line, run, write_jsonl

FLAKY_UNDELIVERED = (4, 44, 84, 124, 164, 204)  # flaky events whose retry failed too
DOWN_FROM = 34  # ep_down fails from its 34th event on: 26 events, each tried twice
DOWN_EVENTS = 60


def _log_end() -> int:
    """The moment the dispatcher stopped writing: an hour before now, on a 5-minute boundary."""
    end = now_ms() - MS_PER_HOUR
    return end - end % (5 * MS_PER_MINUTE)


def _at(ms: int) -> str:
    return format_ms(ms)


def stopped_log(end: int) -> list[dict[str, Any]]:
    """Three stories up to `end` (the newest attempt is a minute before it):

    - ep_flaky, 6 h to 1 h before the end: one first attempt in four fails (80% success per 5-minute bucket) and
      is retried 30 s later; 6 retries fail too. 60 events affected over 5 hours (impact 300), 6 undelivered.
    - ep_down, the last 2 hours: delivered until 52 minutes before the end, then every attempt refused: 26 events
      undelivered over 55 minutes (impact about 24). Harm puts it first, affected x hours last.
    - gift.sent to ep_ok and ep_gift: 4 hours before the end one event reached only ep_ok (missing at ep_gift).
      One delivery at ep_ok was acknowledged twice (a replay after a success).
    """
    minute = MS_PER_MINUTE
    lines: list[dict[str, Any]] = []
    start = end - 360 * minute
    for i in range(240):
        at = start + i * 75_000
        event = f"evt_flaky_{i:03d}"
        fails = i % 4 == 0
        lines.append(
            log_line(
                event,
                "ep_flaky",
                1,
                attempted_at=_at(at),
                event_type="order.paid",
                status_code=503 if fails else 200,
            )
        )
        if fails:
            retry = 503 if i in FLAKY_UNDELIVERED else 200
            lines.append(
                log_line(
                    event,
                    "ep_flaky",
                    2,
                    attempted_at=_at(at + 30_000),
                    event_type="order.paid",
                    status_code=retry,
                )
            )
    for j in range(DOWN_EVENTS):
        at = end - 120 * minute + j * 2 * minute
        event = f"evt_down_{j:02d}"
        if j < DOWN_FROM:
            lines.append(log_line(event, "ep_down", 1, attempted_at=_at(at), event_type="order.shipped"))
            continue
        for attempt, when in ((1, at), (2, at + minute)):
            lines.append(
                log_line(
                    event,
                    "ep_down",
                    attempt,
                    attempted_at=_at(when),
                    event_type="order.shipped",
                    status_code=None,
                    latency_ms=None,
                    error="connection refused",
                )
            )
    old_hour = (end - 4 * MS_PER_HOUR) // MS_PER_HOUR * MS_PER_HOUR
    lines += gift_hour("evt_gift", [old_hour + n * 10 * minute for n in range(1, 5)])
    lines.append(
        log_line(
            "evt_gift_1",
            "ep_ok",
            2,
            attempted_at=_at(old_hour + 50 * minute),
            event_type="gift.sent",
            trigger="manual",
        )
    )
    return lines


def gift_hour(prefix: str, times: list[int]) -> list[dict[str, Any]]:
    """Four gift.sent events at ep_ok, the first three at ep_gift too: the fourth has no attempt there."""
    lines = []
    for n, at in enumerate(times, start=1):
        lines.append(log_line(f"{prefix}_{n}", "ep_ok", 1, attempted_at=_at(at), event_type="gift.sent"))
        if n < 4:
            lines.append(
                log_line(f"{prefix}_{n}", "ep_gift", 1, attempted_at=_at(at + 1000), event_type="gift.sent")
            )
    return lines


def in_flight_times(now: int) -> list[int]:
    """Four moments less than an hour before `now`, in one UTC hour, the last one at least 30 s old."""
    hour = now // MS_PER_HOUR * MS_PER_HOUR
    if now - hour < 3 * MS_PER_MINUTE:
        hour -= MS_PER_HOUR  # too close to the hour's start: the hour before, its last 50 minutes at most
    low, high = max(hour, now - 50 * MS_PER_MINUTE), min(hour + MS_PER_HOUR, now) - 30_000
    return [low + n * (high - low) // 5 for n in range(1, 5)]


@pytest.fixture
def stopped(store: Store, tmp_path: Path) -> tuple[Store, int]:
    end = _log_end()
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", stopped_log(end)))])
    return store, end


def _report(store: Store, tmp_path: Path, *args: str) -> str:
    out = tmp_path / "r.html"
    done = run("--db", store.url, "report", "--plotlyjs", "cdn", "--out", str(out), *args)
    assert done.exit_code == 0, done.stderr
    return out.read_text()


def _stats(store: Store, *args: str) -> dict[str, Any]:
    done = run("--db", store.url, "stats", "--json", *args)
    assert done.exit_code == 0, done.stderr
    data: dict[str, Any] = orjson.loads(done.stdout)
    return data


def _cards(page: str) -> dict[str, tuple[str, str]]:
    """Each KPI card's name -> (figure, note)."""
    found = re.findall(r'<div class="card"><small>([^<]+)</small><b>([^<]+)</b><small>([^<]*)</small>', page)
    return {html.unescape(name): (html.unescape(value), html.unescape(note)) for name, value, note in found}


def _generated(page: str) -> int:
    stamp = re.search(r"Generated (\S+) by hookconsole", page)
    assert stamp
    return parse_rfc3339_ms(stamp.group(1))


def _section(page: str, title: str) -> str:
    return page.split(f"<h2>{title}</h2>", 1)[1].split("</section>", 1)[0]


def _rows(section: str) -> list[list[str]]:
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def _backlog_end(page: str) -> int:
    charts = orjson.loads(re.search(r"var charts = (.*?);\n", page).group(1))  # type: ignore[union-attr]
    (backlog,) = [c for c in charts if c["id"] == "chart-backlog"]
    return int(backlog["data"][0]["y"][-1])


def test_ages_and_the_undelivered_figure_are_as_of_now(stopped: tuple[Store, int], tmp_path: Path) -> None:
    store, end = stopped
    stats = _stats(store)
    undelivered = len(FLAKY_UNDELIVERED) + DOWN_EVENTS - DOWN_FROM  # counted by hand: 6 + 26
    assert stats["undelivered"] == undelivered == 32
    page = _report(store, tmp_path)
    figure, note = _cards(page)["Undelivered now"]
    assert figure == "32" and _backlog_end(page) == 32
    oldest = parse_rfc3339_ms(stats["oldest_undelivered_at"])  # flaky event 4, 5 h 55 m before the log's end
    assert oldest == end - 360 * MS_PER_MINUTE + 4 * 75_000
    assert f"oldest {fmt.age(oldest, _generated(page))}" in note  # from now: about 6 h 55 m, not 5 h 55 m
    assert (_generated(page) - oldest) // MS_PER_HOUR == 6
    # A window that leaves out three of the flaky ones: still 32 now, 29 of them first tried in the window.
    since = _at(end - 240 * MS_PER_MINUTE)
    windowed = _report(store, tmp_path, "--since", since)
    figure, note = _cards(windowed)["Undelivered now"]
    assert figure == "32" and "29 first tried in the window" in note and _backlog_end(windowed) == 32
    assert _stats(store, "--since", since)["undelivered"] == 29
    rows = {r[0]: r for r in _rows(_section(windowed, "Endpoints"))}
    assert (rows["ep_flaky"][4], rows["ep_down"][4]) == ("6", "26")  # undelivered now, as the console counts


def test_incidents_are_clipped_to_now_marked_ongoing_and_ranked_by_harm(stopped: tuple[Store, int]) -> None:
    store, end = stopped
    now = now_ms()
    data = build_report_data(store, DeliveryFilter(), now)
    incidents = data.incidents
    assert list(incidents["endpoint_id"]) == ["ep_down", "ep_flaky"]  # 26 undelivered before 6
    down, flaky = incidents.iloc[0], incidents.iloc[1]
    assert (down["still_undelivered"], flaky["still_undelivered"]) == (26, 6)
    assert (bool(down["ongoing"]), bool(flaky["ongoing"])) == (True, False)
    # Reach counts the report's event types only, as the figures beside it do.
    span = (int(flaky["start_ms"]), int(flaky["end_ms"]))
    assert aggregates.incident_reach(store, "ep_flaky", *span, None, ("order.paid",)) == IncidentReach(60, 6)
    assert aggregates.incident_reach(store, "ep_flaky", *span, None, ("order.shipped",)) == IncidentReach(
        0, 0
    )
    assert down["end_ms"] <= now and down["start_ms"] == end - 55 * MS_PER_MINUTE
    # While the dispatcher was still writing (a minute after its newest attempt), the last bucket had not ended.
    live_now = end - 40_000
    live = build_report_data(store, DeliveryFilter(), live_now).incidents
    assert live.iloc[0]["endpoint_id"] == "ep_down" and bool(live.iloc[0]["ongoing"])
    assert live.iloc[0]["end_ms"] == live_now  # not end, in the future
    # A window that closed before the end says nothing of now: nothing is ongoing in it.
    closed = DeliveryFilter(until_ms=end - 10 * MS_PER_MINUTE)
    assert not build_report_data(store, closed, now).incidents["ongoing"].any()
    page = render_report(data, title="t", plotlyjs="cdn", generated_at_ms=now, store_name="s")
    first = _rows(_section(page, "Incidents"))[0]
    assert first[1] == "ep_down" and "ongoing" in first[3]
    # The backlog chart's legend names each endpoint's incidents, not just "incident".
    charts = orjson.loads(re.search(r"var charts = (.*?);\n", page).group(1))  # type: ignore[union-attr]
    (backlog,) = [c for c in charts if c["id"] == "chart-backlog"]
    named = [s["name"] for s in backlog["layout"]["shapes"] if s["showlegend"]]
    assert named == ["incident at ep_flaky", "incident at ep_down (ongoing)"]


def test_in_flight_events_are_never_missing(store: Store, tmp_path: Path) -> None:
    """A live dispatcher: four events of the last hour went to ep_ok, three of them to ep_gift so far. The fourth
    is still in flight, not missing; one that reached only ep_ok four hours ago is."""
    now = now_ms()
    old_hour = (now - 4 * MS_PER_HOUR) // MS_PER_HOUR * MS_PER_HOUR
    lines = gift_hour("evt_old", [old_hour + n * 10 * MS_PER_MINUTE for n in range(1, 5)])
    lines += gift_hour("evt_new", in_flight_times(now))
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])
    gaps = find_gaps(store, DeliveryFilter(), GapRules(), now_ms())
    assert gaps is not None
    assert [(m.event_id, m.endpoint_id) for m in gaps.missing] == [("evt_old_4", "ep_gift")]
    assert gaps.missing_count == 1  # evt_new_4 is younger than the in-flight horizon
    stats = _stats(store)["gaps"]
    assert [d["event_id"] for d in stats["missing_deliveries"]["deliveries"]] == ["evt_old_4"]
    assert stats["rules"]["in_flight_s"] == 3600
    # With a horizon shorter than its age, the new one is missing too.
    short = _stats(store, "--in-flight", "10s")["gaps"]["missing_deliveries"]
    assert [d["event_id"] for d in short["deliveries"]] == ["evt_old_4", "evt_new_4"]


def test_the_header_names_filters_applied_and_ignored(stopped: tuple[Store, int]) -> None:
    store, _end = stopped
    now = now_ms()
    plain = build_report_data(store, DeliveryFilter(), now)
    narrowed = build_report_data(
        store,
        DeliveryFilter(state=DeliveryState.UNDELIVERED, event_types=("order.paid", "order.shipped")),
        now,
    )
    page = render_report(narrowed, title="t", plotlyjs="cdn", generated_at_ms=now, store_name="s")
    header = html.unescape(page.split("<header>", 1)[1].split("</header>", 1)[0])
    assert "type order.paid, order.shipped" in header
    assert re.search(r"[Ii]gnored[^<]*state undelivered", header)
    # The state is ignored everywhere, not only in the cards: the one acknowledged-twice delivery is gift.sent.
    assert (
        narrowed.stats.overall.deliveries == plain.stats.overall.deliveries - 7
    )  # gift.sent: 4 at ep_ok, 3 at ep_gift
    state_only = build_report_data(store, DeliveryFilter(state=DeliveryState.UNDELIVERED), now)
    assert state_only.duplicates_count == plain.duplicates_count == 1
    assert len(state_only.top_failing) == len(plain.top_failing)


def test_captions_say_what_they_count(stopped: tuple[Store, int], tmp_path: Path) -> None:
    store, _end = stopped
    page = _report(store, tmp_path)
    duplicates = html.unescape(_section(page, "Duplicate deliveries"))
    assert "1 delivery acknowledged more than once" in duplicates and "50" not in duplicates.split("</p>")[0]
    assert "at most 2 times" in duplicates
    gaps = html.unescape(_section(page, "Gaps in the log"))
    assert "1 event with no attempt" in gaps and "0 deliveries with skipped" in gaps
    titles = re.findall(r"<h2>([^<]+)</h2>", page)
    assert titles[0] == "Summary"
    assert titles.index("Ordering anomalies") > titles.index("Failures by status code and error")
    assert titles.index("Gaps in the log") > titles.index("Failures by status code and error")
    now = now_ms()
    data = build_report_data(
        store,
        DeliveryFilter(where=Where.parse('currency = "INR"')),
        now,
        whatif_schedules=[parse_schedule("5s,5m")],
    )
    where_page = html.unescape(
        render_report(data, title="t", plotlyjs="cdn", generated_at_ms=now, store_name="s")
    )
    whatif = _section(where_page, "What-if retry schedules")
    assert 'currency = "INR"' in whatif and "not applied" in whatif


def test_the_summary_says_what_happened(stopped: tuple[Store, int], tmp_path: Path) -> None:
    store, _end = stopped
    page = _report(store, tmp_path)
    summary = html.unescape(re.sub(r"<[^>]+>", "", _section(page, "Summary")))
    assert re.search(r"ep_down is down \(\d+m so far\)", summary), summary
    assert "26 deliveries failed there" in summary
    assert "ep_flaky was degraded" in summary and "6 still undelivered" in summary
    assert "32 deliveries are undelivered now, the oldest for" in summary
    assert "1 gap in the attempt log" in summary
    assert summary.index("ep_down") < summary.index("ep_flaky")
    assert re.search(r"The newest attempt in the log is 1h 0\dm old", summary), summary  # the log stopped


class _Tables(HTMLParser):
    """Every table's header cells and body rows: (text, class) per cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list[Any]]] = []
        self._cell: list[Any] | None = None
        self._row: list[Any] | None = None
        self._part = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"head": [], "body": []})
        elif tag in ("thead", "tbody"):
            self._part = tag
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td"):
            found = dict(attrs)
            self._cell = [tag, "", found.get("class") or "", int(found.get("colspan") or 1)]

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1]["head" if self._part == "thead" else "body"].append(self._row)
            self._row = None


def test_every_table_header_sits_over_its_column(stopped: tuple[Store, int]) -> None:
    """Header cells as many as each row's cells, and aligned as the cells below them (a left-aligned header over
    right-aligned numbers reads as the next column's)."""
    store, _end = stopped
    now = now_ms()
    data = build_report_data(store, DeliveryFilter(), now, whatif_schedules=[parse_schedule("5s,5m")])
    parser = _Tables()
    parser.feed(render_report(data, title="t", plotlyjs="cdn", generated_at_ms=now, store_name="s"))
    assert len(parser.tables) >= 12
    for table in parser.tables:
        (head,) = table["head"]
        headers = [cell[1] for cell in head]
        for row in table["body"]:
            if len(row) == 1 and row[0][3] == len(head):
                continue  # "none"
            assert len(row) == len(head), (headers, [c[1] for c in row])
            for header, cell in zip(head, row, strict=True):
                assert ("n" in header[2].split()) == ("n" in cell[2].split()), (headers, header[1], cell[1])


def test_export_rounds_latencies(store: Store, tmp_path: Path) -> None:
    lines = [log_line("evt_1", "ep_a", 1, latency_ms=92.89999999999999)]
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])
    folder = tmp_path / "out"
    assert run("--db", store.url, "export", "--format", "csv,json", "--out", str(folder)).exit_code == 0
    with (folder / "attempts.csv").open(newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["latency_ms"] == "92.9"
    assert orjson.loads((folder / "attempts.json").read_bytes())[0]["latency_ms"] == 92.9
