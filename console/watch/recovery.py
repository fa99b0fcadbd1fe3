"""Which endpoints have recovered: their recent attempts succeed again after a streak of failures.

A fact for the console (and anyone asking), independent of alert rules: within `window_ms`, at least
`min_failures` failed attempts, then at least `min_successes` successful attempts in the minutes after the
minute of the last failure, and no failure since. Read from the failure and minute rollups, never the attempts.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.domain.times import MS_PER_MINUTE
from console.store import Store
from console.store.alerts import failures_and_successes

RECOVERY_WINDOW_MS = 15 * MS_PER_MINUTE


@dataclass(frozen=True)
class Recovery:
    """An endpoint that failed and now succeeds: its last failure, and the successes counted since."""

    endpoint_id: str
    failures: int
    last_failure_ms: int
    recovered_ms: int  # the start of the first minute after the last failure with a success
    successes_since: int


def recovered_endpoints(
    store: Store,
    now_ms: int,
    window_ms: int = RECOVERY_WINDOW_MS,
    min_failures: int = 3,
    min_successes: int = 3,
) -> list[Recovery]:
    """Endpoints that recovered within the window, most recent recovery first."""
    failures, successes = failures_and_successes(store, now_ms - window_ms, now_ms)
    found: list[Recovery] = []
    for endpoint_id, (failed, last_failure_ms) in failures.items():
        if failed < min_failures:
            continue
        failure_minute = last_failure_ms // MS_PER_MINUTE
        after = [
            (bucket, count) for bucket, count in successes.get(endpoint_id, []) if bucket > failure_minute
        ]
        total = sum(count for _, count in after)
        if total >= min_successes:
            (first_minute, _), *_ = after
            found.append(Recovery(endpoint_id, failed, last_failure_ms, first_minute * MS_PER_MINUTE, total))
    return sorted(found, key=lambda r: (-r.recovered_ms, r.endpoint_id))
