"""Alerts and metrics: rules over rollups and delivery state, an alert state machine kept in the store,
notification channels, a Prometheus exporter, and the `watch` service composing them with the sources."""

from console.store.alerts import firing_alerts, resolved_alerts
from console.watch.recovery import Recovery, recovered_endpoints

__all__ = ["Recovery", "firing_alerts", "recovered_endpoints", "resolved_alerts"]
