"""The resolved ("won't send") state on a real store (SQLite and PostgreSQL): `hookconsole resolve` and
`--reopen` end to end, kept with who, when and why; delivered wins over resolved; the backlog, its oldest age,
alerts, gaps, top failing and replay's selection leave resolved deliveries out, and `stats` counts them apart."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.gaps import GapRules
from console.domain.resolutions import ResolutionAction
from console.domain.times import format_ms, now_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.aggregates import top_failing, undelivered_now
from console.store.alert_details import sample_events
from console.store.alerts import backlog_by_endpoint
from console.store.deliveries import all_deliveries
from console.store.gaps import find_gaps
from console.store.live import undelivered_backlog
from console.store.resolutions import history
from tests.helpers import log_line, run, write_jsonl
from tests.sandbox import EndpointSpec, write_endpoints

HOUR = 3_600_000


def _at(ms: int) -> str:
    return format_ms(ms).replace(".000Z", "Z")


def _ingest(store: Store, folder: Path, name: str, lines: list[dict[str, object]]) -> None:
    ingest_sources(store, [str(write_jsonl(folder / name, lines))])


@pytest.fixture
def failing(store: Store, tmp_path: Path) -> int:
    """evt_1, evt_2 undelivered at ep_a (first tried 3 h and 2 h ago), evt_3 delivered and evt_4 undelivered
    at ep_b (1 h ago). Returns evt_4's first attempt time."""
    now = now_ms()
    lines = [
        log_line("evt_1", "ep_a", status_code=500, attempted_at=_at(now - 3 * HOUR)),
        log_line("evt_2", "ep_a", status_code=500, attempted_at=_at(now - 2 * HOUR)),
        log_line("evt_3", "ep_b", status_code=200, attempted_at=_at(now - 2 * HOUR)),
        log_line("evt_4", "ep_b", status_code=503, attempted_at=_at(now - HOUR)),
    ]
    _ingest(store, tmp_path, "failing.jsonl", lines)
    return now - HOUR


def _stats(store: Store) -> dict[str, object]:
    result = run("--db", store.url, "stats", "--json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, object] = orjson.loads(result.stdout)
    return data


def test_resolved_deliveries_leave_everything_outstanding_and_are_counted_apart(
    store: Store, failing: int, tmp_path: Path
) -> None:
    assert undelivered_backlog(store)[0] == 3
    result = run(
        "--db",
        store.url,
        "resolve",
        "--endpoint",
        "ep_a",
        "--reason",
        "superseded",
        "--operator",
        "alice",
        "--yes",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "resolved 2 deliveries (ep_a 2)"
    # the backlog card and its oldest age: only evt_4 is outstanding
    assert undelivered_backlog(store) == (1, failing)
    stats = _stats(store)
    assert (stats["undelivered"], stats["resolved"], stats["delivered"]) == (1, 2, 1)
    assert stats["oldest_undelivered_at"] == format_ms(failing)
    per_endpoint = {e["id"]: (e["undelivered"], e["resolved"]) for e in stats["endpoints"]}  # type: ignore[attr-defined]
    assert per_endpoint == {"ep_a": (0, 2), "ep_b": (1, 0)}
    # alerts' backlog and sample events, the report's "undelivered now" and top failing
    assert list(backlog_by_endpoint(store)) == ["ep_b"]
    assert sample_events(store, "ep_a", now_ms()) == []
    assert undelivered_now(store, DeliveryFilter()) == {"ep_b": (1, failing)}
    assert [r[0] for r in top_failing(store, DeliveryFilter())] == ["evt_4"]
    # gaps: a resolved delivery is not stuck
    stuck = find_gaps(store, DeliveryFilter(), GapRules(stuck_after_ms=60_000, max_tries=5), now_ms())
    assert stuck is not None and [s.event_id for s in stuck.stuck] == ["evt_4"]
    # the explorer's states: undelivered is outstanding, resolved apart
    undelivered = all_deliveries(store, DeliveryFilter(state=DeliveryState.UNDELIVERED))
    assert [r.event_id for r in undelivered] == ["evt_4"]
    resolved = all_deliveries(store, DeliveryFilter(state=DeliveryState.RESOLVED))
    assert [(r.event_id, r.resolved) for r in resolved] == [("evt_1", True), ("evt_2", True)]
    # kept with who, when and why
    (entry,) = history(store, "evt_1")
    assert (entry.endpoint_id, entry.operator, entry.reason, entry.action) == (
        "ep_a",
        "alice",
        "superseded",
        ResolutionAction.RESOLVE,
    )
    assert abs(entry.at_ms - now_ms()) < 60_000


def test_reopen_makes_them_outstanding_again_and_keeps_the_history(store: Store, failing: int) -> None:
    assert (
        run("--db", store.url, "resolve", "--endpoint", "ep_a", "--reason", "noise", "--yes").exit_code == 0
    )
    reopened = run(
        "--db", store.url, "resolve", "--reopen", "--event-id", "evt_1", "--reason", "customer asked", "--yes"
    )
    assert reopened.exit_code == 0, reopened.stderr
    assert reopened.stdout.splitlines()[-1] == "reopened 1 delivery (ep_a 1)"
    stats = _stats(store)
    assert (stats["undelivered"], stats["resolved"]) == (2, 1)
    assert undelivered_backlog(store) == (2, failing - 2 * HOUR)  # evt_1 is the oldest again
    assert [(h.action, h.reason) for h in history(store, "evt_1")] == [
        (ResolutionAction.RESOLVE, "noise"),
        (ResolutionAction.REOPEN, "customer asked"),
    ]
    # nothing left to reopen for evt_1; reopening twice changes nothing
    again = run("--db", store.url, "resolve", "--reopen", "--event-id", "evt_1", "--reason", "x", "--yes")
    assert again.exit_code == 0 and again.stdout.startswith("no resolved delivery matches")
    assert len(history(store, "evt_1")) == 2


def test_delivered_wins_over_resolved(store: Store, failing: int, tmp_path: Path) -> None:
    assert (
        run("--db", store.url, "resolve", "--event-id", "evt_1", "--reason", "noise", "--yes").exit_code == 0
    )
    assert _stats(store)["resolved"] == 1
    # the dispatcher's retry delivers it after all
    retry = log_line("evt_1", "ep_a", 2, status_code=200, attempted_at=_at(now_ms() - 60_000))
    _ingest(store, tmp_path, "retry.jsonl", [retry])
    stats = _stats(store)
    assert (stats["delivered"], stats["resolved"], stats["undelivered"]) == (2, 0, 2)
    (row,) = all_deliveries(store, DeliveryFilter(event_ids=("evt_1",)))
    assert row.delivered and not row.resolved
    assert all_deliveries(store, DeliveryFilter(state=DeliveryState.RESOLVED)) == []
    # a delivered delivery is neither resolved nor reopened
    nothing = run("--db", store.url, "resolve", "--reopen", "--event-id", "evt_1", "--reason", "x", "--yes")
    assert nothing.stdout.startswith("no resolved delivery matches")


def test_replay_leaves_resolved_deliveries_out_unless_asked(
    store: Store, failing: int, tmp_path: Path
) -> None:
    specs = [
        EndpointSpec(e, "standard", ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",)) for e in ("ep_a", "ep_b")
    ]
    config = write_endpoints(tmp_path, 9, specs)
    assert (
        run("--db", store.url, "resolve", "--endpoint", "ep_a", "--reason", "noise", "--yes").exit_code == 0
    )

    def to_send(*args: str) -> int:
        result = run("--db", store.url, "--endpoints", str(config), "replay", "--dry-run", "--json", *args)
        assert result.exit_code == 0, result.stderr
        return int(orjson.loads(result.stdout)["to_send"])

    assert to_send() == 1
    assert to_send("--status", "any", "--force") == 2  # forced: evt_3 (delivered) and evt_4, never ep_a's
    assert to_send("--include-resolved") == 3


def test_resolve_usage_dry_run_and_read_only(store: Store, failing: int) -> None:
    missing = run("--db", store.url, "resolve", "--endpoint", "ep_a", "--yes")
    assert missing.exit_code == 2
    assert (
        missing.stderr.strip().splitlines() == [missing.stderr.strip()]
        and "--reason TEXT is required" in missing.stderr
    )
    dry = run("--db", store.url, "resolve", "--reason", "noise", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert dry.stdout.strip() == ("would resolve 3 deliveries (ep_a 2, ep_b 1); dry run: nothing was changed")
    assert _stats(store)["resolved"] == 0
    refused = run("--read-only", "--db", store.url, "resolve", "--reason", "noise", "--yes")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        "hookconsole: read-only mode (--read-only or HOOKCONSOLE_READ_ONLY): resolve (changing deliveries) "
        "is refused"
    )
    no_tty = run("--db", store.url, "resolve", "--reason", "noise")
    assert no_tty.exit_code == 1 and "without --yes" in no_tty.stderr
    assert _stats(store)["resolved"] == 0


def test_the_report_counts_resolved_apart_and_leaves_them_out_of_the_backlog(
    store: Store, failing: int
) -> None:
    from console.analytics.build import build_report_data
    from console.report.summary import summary_sentences

    assert (
        run("--db", store.url, "resolve", "--endpoint", "ep_a", "--reason", "superseded", "--yes").exit_code
        == 0
    )
    now = now_ms()
    data = build_report_data(store, DeliveryFilter(since_ms=now - 6 * HOUR, until_ms=now + 60_000), now)
    assert data.undelivered == _stats(store)["undelivered"] == 1
    assert data.resolved_now == [("superseded", 2)]
    assert int(data.backlog["undelivered"].iloc[-1]) == 1  # resolved ones closed when resolved
    assert list(data.top_failing["event_id"]) == ["evt_4"]
    sentences = summary_sentences(data)
    assert "2 deliveries resolved as superseded (won't send)." in sentences
    assert "1 delivery is undelivered now, the oldest for 1h 00m." in sentences
    # all of them resolved: nothing outstanding
    assert (
        run(
            "--db", store.url, "resolve", "--event-id", "evt_4", "--reason", "test traffic", "--yes"
        ).exit_code
        == 0
    )
    data = build_report_data(store, DeliveryFilter(since_ms=now - 6 * HOUR, until_ms=now + 60_000), now)
    assert data.undelivered == 0 and int(data.backlog["undelivered"].iloc[-1]) == 0
    sentences = summary_sentences(data)
    assert "3 deliveries resolved (won't send): 2 superseded; 1 test traffic." in sentences
    assert "Nothing outstanding: every delivery is delivered or resolved." in sentences


def test_pruning_a_resolved_delivery_removes_its_history(store: Store, failing: int) -> None:
    assert (
        run("--db", store.url, "resolve", "--endpoint", "ep_a", "--reason", "noise", "--yes").exit_code == 0
    )
    kept = run("--db", store.url, "prune", "--older-than", "150m", "--yes")  # undelivered ones are kept
    assert kept.exit_code == 0, kept.stderr
    assert len(history(store, "evt_1")) == 1
    pruned = run("--db", store.url, "prune", "--older-than", "150m", "--include-undelivered", "--yes")
    assert pruned.exit_code == 0, pruned.stderr
    assert history(store, "evt_1") == [] and len(history(store, "evt_2")) == 1  # evt_2 is younger


def test_stats_text_says_resolved_beside_undelivered(store: Store, failing: int) -> None:
    before = run("--db", store.url, "stats")
    assert "(delivered 1, undelivered 3, oldest undelivered 3h 00m)" in before.stdout
    assert (
        run("--db", store.url, "resolve", "--endpoint", "ep_a", "--reason", "noise", "--yes").exit_code == 0
    )
    after = run("--db", store.url, "stats")
    assert after.exit_code == 0, after.stderr
    assert "(delivered 1, undelivered 1, resolved 2, oldest undelivered 1h 00m)" in after.stdout
