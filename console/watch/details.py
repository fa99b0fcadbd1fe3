"""What a firing notification carries beyond its metric, so whoever is paged can act: the endpoint's failures by
status code and error kind over the rule's window, a few sample event ids, the age of the oldest undelivered
delivery, and a `hookconsole replay ... --dry-run` line to paste. Read with bounded queries
(console/store/alert_details.py); a store that cannot be read leaves the notification without them, said so.
"""

from __future__ import annotations

import shlex
from typing import Any

from console.domain.alerts import Backlog
from console.domain.urls import mask_url
from console.settings import DEFAULT_DB
from console.store import Store
from console.store.alert_details import failure_breakdown, sample_events
from console.watch.rules import BACKLOG_METRICS, Rule

SAMPLE_EVENTS = 5
FAILURE_KINDS = 8
BACKLOG_WINDOW_MS = 60 * 60_000  # the failures shown with a backlog rule (it has no window of its own)


def replay_line(endpoint_id: str, db_url: str | None) -> str:
    """`hookconsole [--db URL] replay --endpoint ID --dry-run`, quoted for a POSIX shell; `--db` only when it is
    not the default store, its credentials shown as `***` (never a password in a notification)."""
    words = ["hookconsole"]
    if db_url and db_url != DEFAULT_DB:
        words += ["--db", mask_url(db_url)]
    words += ["replay", "--endpoint", endpoint_id, "--dry-run"]
    return " ".join(shlex.quote(w) for w in words)


def incident_details(
    store: Store, rule: Rule, endpoint_id: str, backlog: Backlog | None, now_ms: int, db_url: str | None
) -> dict[str, Any]:
    """The `details` of a firing notification of `rule` on `endpoint_id`."""
    window_ms = BACKLOG_WINDOW_MS if rule.metric in BACKLOG_METRICS else rule.window_ms
    since_ms = now_ms - window_ms
    oldest = backlog.oldest_ms if backlog else None
    details: dict[str, Any] = {
        "window_s": window_ms // 1000,
        "failures": [],
        "sample_event_ids": [],
        "oldest_undelivered_age_s": None if oldest is None else max(0, (now_ms - oldest) // 1000),
        "replay": replay_line(endpoint_id, db_url),
    }
    try:
        failures = failure_breakdown(store, endpoint_id, since_ms, FAILURE_KINDS)
        details["sample_event_ids"] = sample_events(store, endpoint_id, since_ms, SAMPLE_EVENTS)
    except Exception as exc:  # the notification goes out all the same
        details["error"] = f"details could not be read: {type(exc).__name__}"
        return details
    details["failures"] = [
        {"status_code": f.status_code, "error_kind": f.error_kind, "label": f.label, "count": f.count}
        for f in failures
    ]
    return details
