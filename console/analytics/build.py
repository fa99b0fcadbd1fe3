"""Everything a report shows, computed once from the store for a filter and a window."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from console.analytics.deliveries import (
    backlog_series,
    duplicate_deliveries,
    ordering_anomalies,
    retries_until_success,
    time_to_delivery,
    top_failing_events,
    with_payload_excerpts,
)
from console.analytics.incidents import find_incidents
from console.analytics.series import ALL, failure_breakdowns, latency_distribution, time_series
from console.analytics.window import ReportWindow, resolve_window
from console.domain.filters import DeliveryFilter
from console.domain.gaps import GapReport, GapRules
from console.domain.kpis import StatsSnapshot
from console.domain.replay import ItemState
from console.store import Store, frames
from console.store.gaps import find_gaps
from console.store.replay_jobs import list_jobs
from console.store.stats import read_stats

DEFAULT_SLO = 0.99


@dataclass(frozen=True)
class ReportData:
    """The figures of one report. Frames named for attempts count HTTP attempts; the others count deliveries."""

    filter: DeliveryFilter
    window: ReportWindow
    slo: float
    stats: StatsSnapshot
    series: pd.DataFrame  # attempts per bucket and endpoint, success rate, latency percentiles
    latency: pd.DataFrame  # attempts per latency bucket per endpoint
    failures: dict[str, pd.DataFrame]  # failed attempts by class, status code, error kind
    retries: pd.DataFrame  # deliveries by the attempt that delivered them
    time_to_delivery: pd.DataFrame  # deliveries: seconds from first attempt to delivery
    backlog: pd.DataFrame  # undelivered deliveries over time
    incidents: pd.DataFrame  # endpoint stretches below the SLO (attempts)
    top_failing: pd.DataFrame  # deliveries with the most failed attempts
    ordering_count: int
    ordering: pd.DataFrame  # deliveries that overtook an earlier event of the same user
    duplicates: pd.DataFrame  # deliveries acknowledged more than once
    replays: pd.DataFrame  # replay jobs created in the window
    gaps: GapReport | None = None  # gaps in the attempt log (deliveries first tried in the window)

    @property
    def empty(self) -> bool:
        return self.stats.overall.attempts == 0 and self.stats.overall.deliveries == 0


def build_report_data(store: Store, flt: DeliveryFilter, now_ms: int, slo: float = DEFAULT_SLO) -> ReportData:
    """Read the window's rollups and deliveries and compute every figure of the report."""
    data_start, data_end = frames.data_bounds(store)
    window = resolve_window(flt, now_ms, data_start, data_end)
    scoped = flt.with_(since_ms=window.since_ms, until_ms=window.until_ms)
    stats = read_stats(store, scoped)
    rollups = frames.rollup_frame(
        store, window.since_ms, window.until_ms, flt.endpoint_ids, flt.event_types, window.hourly
    )
    series = time_series(rollups, window.bucket_ms)
    incident_series = time_series(rollups, window.incident_bucket_ms, include_all=False)
    failures = frames.failures_frame(
        store, window.since_ms, window.until_ms, flt.endpoint_ids, flt.event_types
    )
    deliveries = frames.deliveries_frame(store, scoped)
    backlog = backlog_series(
        deliveries, window.since_ms, window.until_ms, window.bucket_ms, frames.backlog_start(store, scoped)
    )
    top = top_failing_events(deliveries)
    ordering_count, ordering = ordering_anomalies(deliveries)
    return ReportData(
        filter=scoped,
        window=window,
        slo=slo,
        stats=stats,
        series=series,
        latency=latency_distribution(rollups),
        failures=failure_breakdowns(failures),
        retries=retries_until_success(deliveries),
        time_to_delivery=time_to_delivery(deliveries),
        backlog=backlog,
        incidents=find_incidents(
            incident_series,
            window.incident_bucket_ms,
            slo,
            lambda endpoint, start, end: frames.failed_events_between(store, endpoint, start, end),
        ),
        top_failing=with_payload_excerpts(top, frames.payloads(store, list(top["event_id"]))),
        ordering_count=ordering_count,
        ordering=ordering,
        duplicates=duplicate_deliveries(deliveries),
        replays=_replays(store, window),
        gaps=find_gaps(store, scoped, GapRules(), now_ms),
    )


def _replays(store: Store, window: ReportWindow) -> pd.DataFrame:
    rows = [
        (
            j.id,
            j.state.value,
            j.created_at_ms,
            j.total,
            j.count(ItemState.DELIVERED),
            j.count(ItemState.FAILED),
            j.count(ItemState.SKIPPED),
            j.selection,
        )
        for j in list_jobs(store, limit=500)
        if window.since_ms <= j.created_at_ms < window.until_ms
    ]
    return pd.DataFrame.from_records(
        rows,
        columns=["job_id", "state", "created_at", "items", "delivered", "failed", "skipped", "selection"],
    )


__all__ = ["ALL", "DEFAULT_SLO", "ReportData", "build_report_data"]
