"""Plain typed values shared by every layer: outcomes, records, filters, figures. No I/O."""

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.kpis import EndpointKpis, Kpis, LatencySummary, StatsSnapshot
from console.domain.outcomes import ErrorKind, Outcome, Trigger, classify_outcome, error_kind_of
from console.domain.records import AttemptRecord, EventRecord

__all__ = [
    "AttemptRecord",
    "DeliveryFilter",
    "DeliveryState",
    "EndpointKpis",
    "ErrorKind",
    "EventRecord",
    "Kpis",
    "LatencySummary",
    "Outcome",
    "StatsSnapshot",
    "Trigger",
    "classify_outcome",
    "error_kind_of",
]
