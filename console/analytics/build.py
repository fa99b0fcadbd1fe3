"""Everything a report shows, computed once from the store for a filter and a window."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from console.analytics.series import ALL, RollupSums, failure_breakdowns
from console.analytics.whatif import run_whatif
from console.analytics.window import ReportWindow, resolve_window
from console.domain.filters import DeliveryFilter
from console.domain.gaps import GapReport, GapRules
from console.domain.kpis import StatsSnapshot
from console.domain.replay import ItemState
from console.domain.urls import mask_url
from console.domain.whatif import Schedule, WhatIfResult
from console.store import Store, aggregates, content_series, frames
from console.store.gaps import find_gaps
from console.store.replay_jobs import list_jobs
from console.store.stats import read_stats

DEFAULT_SLO = 0.99


@dataclass(frozen=True)
class ReportData:
    """The figures of one report. Frames named for attempts count HTTP attempts; the others count deliveries."""

    filter: DeliveryFilter  # what the figures apply: the window, endpoints, event types and payload filter
    window: ReportWindow
    slo: float
    stats: StatsSnapshot
    series: pd.DataFrame  # attempts per bucket and endpoint, success rate, latency percentiles
    latency: pd.DataFrame  # attempts per latency bucket per endpoint
    failures: dict[str, pd.DataFrame]  # failed attempts by class, status code, error kind
    retries: pd.DataFrame  # deliveries by the attempt that delivered them
    time_to_delivery: pd.DataFrame  # deliveries: seconds from first attempt to delivery
    backlog: pd.DataFrame  # undelivered deliveries over time
    incidents: pd.DataFrame  # endpoint stretches below the SLO (attempts), worst first
    top_failing: pd.DataFrame  # deliveries with the most failed attempts
    ordering_count: int
    ordering: pd.DataFrame  # the first deliveries that overtook an earlier event of the same user
    duplicates_count: int
    duplicates: pd.DataFrame  # the deliveries acknowledged most often (more than once)
    replays: pd.DataFrame  # replay jobs created in the window
    now_ms: int = 0  # when the figures were read: ages and "undelivered now" are as of this moment
    # per endpoint: deliveries undelivered now whenever first tried, and the oldest one's first attempt
    undelivered_now: dict[str, tuple[int, int]] = field(default_factory=dict)
    # resolved deliveries (won't send) whenever first tried, by reason, most first: counted apart
    resolved_now: list[tuple[str, int]] = field(default_factory=list)
    ignored: DeliveryFilter | None = None  # the filters asked for that a report does not apply
    newest_attempt_ms: int | None = None  # the log's newest attempt: a stopped dispatcher shows as an old one
    live: bool = True  # the window reaches now (no --until, or one not in the past)
    gaps: GapReport | None = None  # gaps in the attempt log (deliveries first tried in the window)
    whatif: WhatIfResult | None = None  # candidate retry schedules against the window's failures, when asked

    @property
    def empty(self) -> bool:
        return self.stats.overall.attempts == 0 and self.stats.overall.deliveries == 0

    @property
    def undelivered(self) -> int:
        """Deliveries undelivered now, whenever first tried (the console's and `stats`' backlog)."""
        return sum(n for n, _oldest in self.undelivered_now.values())

    @property
    def oldest_undelivered_ms(self) -> int | None:
        return min((oldest for _n, oldest in self.undelivered_now.values()), default=None)


def report_scope(flt: DeliveryFilter) -> tuple[DeliveryFilter, DeliveryFilter | None]:
    """The part of a filter a report applies (window, endpoints, event types, payload) and the part it ignores
    (state, last outcome, status code, event ids, search: the rollups behind its figures keep none of them), or
    None when nothing is ignored."""
    applied = DeliveryFilter(
        since_ms=flt.since_ms,
        until_ms=flt.until_ms,
        endpoint_ids=flt.endpoint_ids,
        event_types=flt.event_types,
        where=flt.where,
        sources=flt.sources,
    )
    ignored = DeliveryFilter(
        state=flt.state,
        last_outcomes=flt.last_outcomes,
        status_codes=flt.status_codes,
        event_ids=flt.event_ids,
        search=flt.search,
    )
    return applied, (None if ignored == DeliveryFilter() else ignored)


def build_report_data(
    store: Store,
    flt: DeliveryFilter,
    now_ms: int,
    slo: float = DEFAULT_SLO,
    whatif_schedules: Sequence[Schedule] = (),
) -> ReportData:
    """Compute every figure of the report from the window's rollups (with a payload filter: the matching attempts,
    grouped the same way by the database) and SQL aggregates over its deliveries; no query returns the window's
    deliveries or attempts row by row."""
    flt, ignored = report_scope(flt)
    data_start, data_end = frames.data_bounds(store)
    window = resolve_window(flt, now_ms, data_start, data_end)
    scoped = flt.with_(since_ms=window.since_ms, until_ms=window.until_ms)
    live = flt.until_ms is None or flt.until_ms >= now_ms
    stats = read_stats(store, scoped)
    rows, failures = _attempt_sums(store, flt, window)
    sums = RollupSums(window.bucket_ms, window.incident_bucket_ms).add_all(rows)
    backlog = backlog_series(
        aggregates.backlog_counts(store, scoped, window.since_ms, window.until_ms, window.bucket_ms),
        window.since_ms,
        window.until_ms,
        window.bucket_ms,
    )
    top = top_failing_events(store, scoped)
    ordering_count, ordering = ordering_anomalies(store, scoped)
    duplicates_count, duplicates = duplicate_deliveries(store, scoped)

    def reach(endpoint: str, start: int, end: int) -> tuple[int, int]:
        found = aggregates.incident_reach(store, endpoint, start, end, flt.where, flt.event_types)
        return found.events_affected, found.still_undelivered

    return ReportData(
        filter=scoped,
        window=window,
        slo=slo,
        stats=stats,
        series=sums.series(),
        latency=sums.latency(),
        failures=failure_breakdowns(failures),
        retries=retries_until_success(store, scoped),
        time_to_delivery=time_to_delivery(store, scoped),
        backlog=backlog,
        incidents=find_incidents(
            sums.incident_series(),
            window.incident_bucket_ms,
            slo,
            reach,
            now_ms,
            live=live,
        ),
        top_failing=with_payload_excerpts(top, frames.payloads(store, list(top["event_id"]))),
        ordering_count=ordering_count,
        ordering=ordering,
        duplicates_count=duplicates_count,
        duplicates=duplicates,
        replays=_replays(store, window),
        now_ms=now_ms,
        undelivered_now=aggregates.undelivered_now(store, scoped),
        resolved_now=aggregates.resolved_now(store, scoped),
        ignored=ignored,
        newest_attempt_ms=aggregates.newest_attempt(store),
        live=live,
        gaps=find_gaps(store, scoped, GapRules(), now_ms),
        whatif=(
            run_whatif(store, whatif_schedules, window.since_ms, window.until_ms, flt.endpoint_ids)
            if whatif_schedules
            else None
        ),
    )


def _attempt_sums(
    store: Store, flt: DeliveryFilter, window: ReportWindow
) -> tuple[Iterable[tuple[Any, ...]], pd.DataFrame]:
    """The window's attempt sums per bucket and endpoint, and its failed attempts: from the rollups, or with a
    payload filter from the matching attempts (grouped the same way by the database)."""
    since, until, hourly = window.since_ms, window.until_ms, window.hourly
    if flt.where:
        return (
            content_series.iter_matching_buckets(store, flt, since, until, hourly),
            content_series.matching_failures_frame(store, flt, since, until),
        )
    return (
        aggregates.iter_rollups(store, since, until, flt.endpoint_ids, flt.event_types, hourly),
        frames.failures_frame(store, since, until, flt.endpoint_ids, flt.event_types),
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
            j.operator,
            j.reason,
            mask_url(j.target_url) if j.target_url else None,
        )
        for j in list_jobs(store, limit=500)
        if window.since_ms <= j.created_at_ms < window.until_ms
    ]
    return pd.DataFrame.from_records(rows, columns=REPLAY_COLUMNS)


# A replay job in the report and the export: who started it, why, and the target when not the endpoints' own.
REPLAY_COLUMNS = [
    "job_id",
    "state",
    "created_at",
    "items",
    "delivered",
    "failed",
    "skipped",
    "selection",
    "operator",
    "reason",
    "target_url",
]


__all__ = ["ALL", "DEFAULT_SLO", "ReportData", "build_report_data"]
