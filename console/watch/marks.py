"""Per endpoint, what the console marks: firing alerts (from the alert state `watch` keeps) and recoveries
(rule-free, from the rollups, and alerts resolved lately). Four small indexed queries: cheap enough for the
dashboard's refresh every 2 s."""

from __future__ import annotations

from console.domain.alert_marks import EndpointMark
from console.store import Store
from console.store.alerts import firing_alerts, resolved_alerts
from console.watch.recovery import RECOVERY_WINDOW_MS, recovered_endpoints


def endpoint_marks(store: Store, now_ms: int, window_ms: int = RECOVERY_WINDOW_MS) -> dict[str, EndpointMark]:
    """Endpoints with a firing alert (and whether they succeed again already), and endpoints that recovered
    within the window."""
    firing: dict[str, list[tuple[str, int]]] = {}
    for alert in firing_alerts(store):
        firing.setdefault(alert.endpoint_id, []).append((alert.rule, alert.since_ms))
    succeeding = {r.endpoint_id: r.recovered_ms for r in recovered_endpoints(store, now_ms, window_ms)}
    recovered: dict[str, int] = {}
    for resolved in resolved_alerts(store, now_ms - window_ms):
        recovered[resolved.endpoint_id] = max(recovered.get(resolved.endpoint_id, 0), resolved.resolved_ms)
    recovered.update(succeeding)  # when successes came back, not when a rule caught up
    marks = {  # a rule lags behind the traffic: a firing endpoint may succeed again already, and says so
        endpoint_id: EndpointMark(
            endpoint_id,
            tuple(sorted(rule for rule, _ in alerts)),
            min(since for _, since in alerts),
            succeeding.get(endpoint_id),
        )
        for endpoint_id, alerts in firing.items()
    }
    for endpoint_id, recovered_ms in recovered.items():
        if endpoint_id not in marks:
            marks[endpoint_id] = EndpointMark(endpoint_id, recovered_ms=recovered_ms)
    return marks
