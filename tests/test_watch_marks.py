"""What the console marks per endpoint: firing alerts from the stored alert state, recoveries from the rollups
and from alerts resolved lately; firing wins over recovered."""

from __future__ import annotations

from pathlib import Path

from console.domain.alert_marks import EndpointMark
from console.domain.alerts import AlertState, AlertStateRow
from console.domain.times import MS_PER_MINUTE, format_ms, parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.alerts import save_transitions
from console.watch.marks import endpoint_marks
from tests.helpers import log_line, write_jsonl

NOW = parse_rfc3339_ms("2026-05-05T10:10:00Z")


def failed_then_back(endpoint_id: str, failed_at_ms: int, back_at_ms: int) -> list[dict[str, object]]:
    """Three events whose first attempt fails (503) and whose retry succeeds minutes later."""
    lines: list[dict[str, object]] = []
    for n in range(3):
        event_id = f"evt_{endpoint_id}_{n}"
        lines.append(
            log_line(event_id, endpoint_id, 1, attempted_at=format_ms(failed_at_ms + n), status_code=503)
        )
        lines.append(
            log_line(event_id, endpoint_id, 2, attempted_at=format_ms(back_at_ms + n), status_code=200)
        )
    return lines


def state(rule: str, endpoint_id: str, value: AlertState, since_ms: int, changed_ms: int) -> AlertStateRow:
    return AlertStateRow(rule, endpoint_id, value, since_ms=since_ms, changed_ms=changed_ms)


def test_firing_resolved_and_recovered_endpoints(store: Store, tmp_path: Path) -> None:
    lines = failed_then_back("ep_back", NOW - 8 * MS_PER_MINUTE, NOW - 4 * MS_PER_MINUTE)
    lines += failed_then_back("ep_flapping", NOW - 8 * MS_PER_MINUTE, NOW - 4 * MS_PER_MINUTE)
    ingest_sources(store, [str(write_jsonl(tmp_path / "traffic.jsonl", lines))])
    save_transitions(
        store,
        [
            state(
                "endpoint-down",
                "ep_down",
                AlertState.FIRING,
                NOW - 6 * MS_PER_MINUTE,
                NOW - 5 * MS_PER_MINUTE,
            ),
            state("backlog", "ep_down", AlertState.FIRING, NOW - 3 * MS_PER_MINUTE, NOW - 2 * MS_PER_MINUTE),
            state(
                "endpoint-down",
                "ep_flapping",
                AlertState.FIRING,
                NOW - 9 * MS_PER_MINUTE,
                NOW - 9 * MS_PER_MINUTE,
            ),
            state(
                "endpoint-down",
                "ep_resolved",
                AlertState.RESOLVED,
                NOW - 9 * MS_PER_MINUTE,
                NOW - MS_PER_MINUTE,
            ),
            state(
                "endpoint-down",
                "ep_long_ago",
                AlertState.RESOLVED,
                NOW - 90 * MS_PER_MINUTE,
                NOW - 60 * MS_PER_MINUTE,
            ),
            state("endpoint-down", "ep_ok", AlertState.OK, NOW - 9 * MS_PER_MINUTE, NOW - 9 * MS_PER_MINUTE),
        ],
        [],
        NOW,
    )

    marks = endpoint_marks(store, NOW)

    assert marks == {
        "ep_down": EndpointMark("ep_down", ("backlog", "endpoint-down"), NOW - 6 * MS_PER_MINUTE),
        # Firing wins the mark; the rule has not caught up with its successes yet, and the mark says so.
        "ep_flapping": EndpointMark(
            "ep_flapping", ("endpoint-down",), NOW - 9 * MS_PER_MINUTE, NOW - 4 * MS_PER_MINUTE
        ),
        "ep_back": EndpointMark(
            "ep_back", recovered_ms=NOW - 4 * MS_PER_MINUTE
        ),  # the minute successes resumed
        "ep_resolved": EndpointMark(
            "ep_resolved", recovered_ms=NOW - MS_PER_MINUTE
        ),  # when its alert resolved
    }
    assert marks["ep_down"].firing and not marks["ep_back"].firing
    # Later the recovery is old news: nothing is marked once the window has passed.
    later = endpoint_marks(store, NOW + 30 * MS_PER_MINUTE)
    assert later == {
        "ep_down": marks["ep_down"],
        "ep_flapping": EndpointMark("ep_flapping", ("endpoint-down",), NOW - 9 * MS_PER_MINUTE),
    }
