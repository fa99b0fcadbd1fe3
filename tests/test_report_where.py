"""`report --where` on both stores: the report of the events whose payload matches, its figures equal to
`stats --where`, its charts grouped by the database the way the rollups are, and the header naming the filter."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from console.analytics.build import ReportData, build_report_data
from console.domain.filters import DeliveryFilter
from console.domain.times import parse_rfc3339_ms
from console.domain.where import Where
from console.ingest.service import ingest_sources
from console.store import Store, aggregates
from console.store.content_series import iter_matching_buckets
from tests.helpers import log_line, run, write_jsonl

SINCE, UNTIL = "2026-05-05T09:00:00Z", "2026-05-05T13:00:00Z"
NOW = parse_rfc3339_ms("2026-05-05T14:00:00Z")
EUR = 'currency = "EUR"'


def _outcome(i: int) -> dict[str, Any]:
    """A varied first attempt: success, 503, a timeout, a refused connection."""
    kind = i % 4
    if kind == 0:
        return {"status_code": 200, "latency_ms": 20.0 + 13.7 * i}
    if kind == 1:
        return {"status_code": 503, "latency_ms": 300.0 + i}
    if kind == 2:
        return {"status_code": None, "latency_ms": 5000.0, "error": "timed out"}
    return {"status_code": None, "latency_ms": None, "error": "connection refused"}


def _lines() -> list[dict[str, Any]]:
    """36 events over three hours at two endpoints; every third is in EUR, the others INR or no currency.
    Failed first attempts are retried (successfully) a minute later, except the last ones."""
    lines = []
    for i in range(36):
        event_id = f"evt_{i:03d}"
        currency = ("EUR", "INR", None)[i % 3]
        payload = {"event_id": event_id, "user_id": f"u{i % 5}", "amount": 100 + i}
        if currency:
            payload["currency"] = currency
        hour, minute = 10 + i // 12, (i * 5) % 60
        at = f"2026-05-05T{hour:02d}:{minute:02d}:07Z"
        for endpoint_id, shift in (("ep_a", 0), ("ep_b", 1)):
            first = _outcome(i + shift)
            lines.append(log_line(event_id, endpoint_id, 1, attempted_at=at, payload=payload, **first))
            if first["status_code"] != 200 and i < 30:
                retry_at = f"2026-05-05T{hour:02d}:{minute + 1:02d}:30Z"
                lines.append(log_line(event_id, endpoint_id, 2, attempted_at=retry_at, latency_ms=55.5))
    for k in range(40):  # an outage at ep_b from 11:30 to 11:50 (every event retried at 12:30), half in EUR
        event_id = f"evt_{200 + k}"
        payload = {"event_id": event_id, "user_id": f"u{k % 5}", "currency": ("EUR", "INR")[k % 2]}
        at = f"2026-05-05T11:{30 + k // 2:02d}:{k % 2 * 20 + 5:02d}Z"
        lines.append(log_line(event_id, "ep_b", 1, attempted_at=at, status_code=502, payload=payload))
        lines.append(log_line(event_id, "ep_b", 2, attempted_at=f"2026-05-05T12:30:{k:02d}Z"))
    return lines


@pytest.fixture
def crafted(store: Store, tmp_path: Path) -> Store:
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", _lines()))])
    return store


def _eur_attempts() -> list[dict[str, Any]]:
    eur = {line["event_id"] for line in _lines() if line.get("payload", {}).get("currency") == "EUR"}
    return [line for line in _lines() if line["event_id"] in eur]


def _data(store: Store, where: str | None, since: str = SINCE, until: str = UNTIL) -> ReportData:
    flt = DeliveryFilter(
        since_ms=parse_rfc3339_ms(since),
        until_ms=parse_rfc3339_ms(until),
        where=Where.parse(where) if where else None,
    )
    return build_report_data(store, flt, NOW)


def _cells(page: str, section: str) -> list[list[str]]:
    """The rows of a section's first table, each cell's text."""
    body = page.split(f"<h2>{section}</h2>", 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def test_report_where_shows_exactly_the_matching_events_figures(crafted: Store, tmp_path: Path) -> None:
    window = ["--since", SINCE, "--until", UNTIL]
    out = tmp_path / "eur.html"
    done = run("--db", crafted.url, "report", "--where", EUR, *window, "--out", str(out), "--plotlyjs", "cdn")
    assert done.exit_code == 0, done.stderr
    stats = orjson.loads(run("--db", crafted.url, "stats", "--json", "--where", EUR, *window).stdout)
    eur = _eur_attempts()
    assert stats["attempts"] == len(eur) and f"({len(eur)} attempts," in done.stdout
    page = out.read_text()
    header = page.split("<header>", 1)[1].split("</header>", 1)[0]
    assert "Payload filter: currency = &quot;EUR&quot;" in header
    cards = dict(re.findall(r"<small>([^<]+)</small><b>([^<]+)</b>", page))
    assert cards["Attempts"] == f"{stats['attempts']:,}" and cards["Deliveries"] == f"{stats['deliveries']:,}"
    assert cards["First-attempt success"] == _pct(stats["first_attempt_success_rate"])
    assert cards["Final success"] == _pct(stats["final_success_rate"])
    assert cards["Undelivered now"] == f"{stats['undelivered']:,}"  # the window holds every delivery
    rows = {r[0]: r for r in _cells(page, "Endpoints")}
    assert sorted(rows) == [e["id"] for e in stats["endpoints"]] == ["ep_a", "ep_b"]
    for e in stats["endpoints"]:
        row = rows[e["id"]]
        assert row[1:5] == [
            f"{e['attempts']:,}",
            _pct(e["first_attempt_success_rate"]),
            _pct(e["final_success_rate"]),
            f"{e['undelivered']:,}",
        ]
    everything = run("--db", crafted.url, "report", *window, "--out", str(tmp_path / "all.html"))
    assert f"({len(_lines())} attempts," in everything.stdout  # without --where: every event
    assert "Payload filter" not in (tmp_path / "all.html").read_text()


def test_filtered_charts_count_the_matching_attempts(crafted: Store) -> None:
    data = _data(crafted, EUR)
    eur = _eur_attempts()
    overall = data.series[data.series["endpoint_id"] == "(all endpoints)"]
    outcome = {200: "successes", 502: "http_errors", 503: "http_errors"}
    expected = {"attempts": len(eur), "successes": 0, "http_errors": 0, "timeouts": 0, "network_errors": 0}
    for line in eur:
        name = outcome.get(line["status_code"]) or (
            "timeouts" if line["error"] == "timed out" else "network_errors"
        )
        expected[name] += 1
    assert {k: int(overall[k].sum()) for k in expected} == expected
    timed = sum(1 for line in eur if line["latency_ms"] is not None)
    assert int(data.latency["attempts"].sum()) == timed  # one histogram per endpoint
    failed = len(eur) - expected["successes"]
    assert int(data.failures["by_endpoint_class"]["attempts"].sum()) == failed
    assert sorted(data.failures["by_error"]["error_kind"]) == ["connection_refused", "timeout"]


@pytest.mark.parametrize(
    ("since", "until"), [(SINCE, UNTIL), ("2026-05-01T00:00:00Z", "2026-05-06T00:00:00Z")]
)
def test_a_filter_matching_everything_gives_the_rollups_frames(
    crafted: Store, since: str, until: str
) -> None:
    """Grouped by the database from the attempts, the charts, latency, failures and incidents are the frames
    the rollups give (minute and hour grain)."""
    rollups = _data(crafted, None, since, until)
    matched = _data(crafted, 'not currency = "nowhere"', since, until)
    assert rollups.window.hourly == (since != SINCE)
    pd.testing.assert_frame_equal(matched.series, rollups.series)
    pd.testing.assert_frame_equal(matched.latency, rollups.latency)
    for name, frame in rollups.failures.items():
        pd.testing.assert_frame_equal(
            matched.failures[name].reset_index(drop=True), frame.reset_index(drop=True)
        )
    pd.testing.assert_frame_equal(matched.incidents, rollups.incidents)
    assert len(rollups.incidents) > 0


def test_the_database_groups_the_attempts(crafted: Store) -> None:
    """One row per minute and endpoint reaches Python, not one per attempt."""
    rows = list(
        iter_matching_buckets(
            crafted,
            DeliveryFilter(where=Where.parse(EUR)),
            parse_rfc3339_ms(SINCE),
            parse_rfc3339_ms(UNTIL),
            hourly=True,
        )
    )
    assert [(r[0], r[1]) for r in rows] == sorted({(r[0], r[1]) for r in rows})
    assert len(rows) == 6 and sum(r[2] for r in rows) == len(_eur_attempts())  # 3 hours x 2 endpoints


def test_filtered_incidents_reach_only_matching_events(crafted: Store) -> None:
    """An incident's reach counts the matching events with a failed attempt in it, and those still undelivered."""
    since, until = parse_rfc3339_ms(SINCE), parse_rfc3339_ms(UNTIL)
    for endpoint_id in ("ep_a", "ep_b"):
        failed = {
            line["event_id"]
            for line in _eur_attempts()
            if line["endpoint_id"] == endpoint_id and line["status_code"] != 200
        }
        delivered = {
            line["event_id"]
            for line in _eur_attempts()
            if line["endpoint_id"] == endpoint_id and line["status_code"] == 200
        }
        open_ = failed - delivered  # the last failures were not retried
        reach = aggregates.incident_reach(crafted, endpoint_id, since, until, Where.parse(EUR))
        assert (reach.events_affected, reach.still_undelivered) == (len(failed), len(open_))
        assert aggregates.incident_reach(crafted, endpoint_id, since, until).events_affected > len(failed)
    data, everything = _data(crafted, EUR), _data(crafted, None)
    assert 0 < data.incidents["events_affected"].sum() < everything.incidents["events_affected"].sum()
