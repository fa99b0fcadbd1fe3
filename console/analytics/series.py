"""Time series and distributions from rollups: success rates, volume and latency percentiles (all attempts).

Rollup rows are folded one at a time into sums per chart bucket and endpoint (and per incident bucket), so
memory follows the number of buckets drawn, not the number of rollup rows read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pandas as pd

from console.domain.latency import bucket_bounds, merge, midpoint, percentiles

ALL = "(all endpoints)"
COUNTS = ["attempts", "successes", "http_errors", "timeouts", "network_errors"]
SERIES_COLUMNS = ["bucket_ms", "endpoint_id", *COUNTS, "success_rate", "p50", "p95", "p99"]
INCIDENT_COLUMNS = ["bucket_ms", "endpoint_id", "attempts", "successes"]
LATENCY_COLUMNS = ["endpoint_id", "bucket", "low_ms", "high_ms", "mid_ms", "attempts"]


class RollupSums:
    """Sums of rollup rows per chart bucket x endpoint (counters and latency histogram) and per incident bucket
    x endpoint (attempts and successes).

    Rows are (bucket start ms, endpoint_id, attempts, successes, http_errors, timeouts, network_errors,
    latency_count, latency histogram as JSON text or a dict)."""

    def __init__(self, bucket_ms: int, incident_bucket_ms: int) -> None:
        self.bucket_ms = bucket_ms
        self.incident_bucket_ms = incident_bucket_ms
        self.charts: dict[tuple[int, str], list[Any]] = {}
        self.incidents: dict[tuple[int, str], list[int]] = {}

    def add_all(self, rows: Iterable[tuple[Any, ...]]) -> RollupSums:
        width, incident_width = self.bucket_ms, self.incident_bucket_ms
        charts, incidents = self.charts, self.incidents
        for (
            bucket_ms,
            endpoint_id,
            attempts,
            successes,
            http_errors,
            timeouts,
            network_errors,
            latencies,
            hist,
        ) in rows:
            key = (bucket_ms // width * width, endpoint_id)
            sums = charts.get(key)
            if sums is None:
                sums = charts[key] = [0, 0, 0, 0, 0, {}]
            sums[0] += attempts
            sums[1] += successes
            sums[2] += http_errors
            sums[3] += timeouts
            sums[4] += network_errors
            if latencies and hist:
                merged = sums[5]
                for b, c in orjson.loads(hist).items() if isinstance(hist, str) else hist.items():
                    b = int(b)
                    merged[b] = merged.get(b, 0) + c
            ikey = (bucket_ms // incident_width * incident_width, endpoint_id)
            pair = incidents.get(ikey)
            if pair is None:
                incidents[ikey] = [attempts, successes]
            else:
                pair[0] += attempts
                pair[1] += successes
        return self

    def series(self) -> pd.DataFrame:
        """Per chart bucket and endpoint, plus all endpoints together: attempt counts by outcome, the attempt
        success rate, and latency p50/p95/p99 (ms)."""
        overall: dict[int, list[Any]] = {}
        for (bucket, _endpoint), sums in self.charts.items():
            total = overall.get(bucket)
            if total is None:
                total = overall[bucket] = [0, 0, 0, 0, 0, {}]
            for i in range(5):
                total[i] += sums[i]
            merge(total[5], sums[5])
        rows = [(b, e, s) for (b, e), s in self.charts.items()] + [(b, ALL, s) for b, s in overall.items()]
        rows.sort(key=_bucket_then_endpoint)
        records = []
        for bucket, endpoint, sums in rows:
            p50, p95, p99 = percentiles(sums[5], (0.5, 0.95, 0.99))
            rate = sums[1] / sums[0] if sums[0] else None
            records.append((bucket, endpoint, *sums[:5], rate, p50, p95, p99))
        frame = pd.DataFrame.from_records(records, columns=SERIES_COLUMNS)
        return frame.astype({"success_rate": "float64", "p50": "float64", "p95": "float64", "p99": "float64"})

    def incident_series(self) -> pd.DataFrame:
        """Attempts and successes per incident bucket and endpoint."""
        records = sorted((b, e, a, s) for (b, e), (a, s) in self.incidents.items())
        return pd.DataFrame.from_records(records, columns=INCIDENT_COLUMNS)

    def latency(self) -> pd.DataFrame:
        """Per endpoint, how many attempts fell in each latency bucket (ms bounds and midpoint)."""
        hists: dict[str, dict[int, int]] = {}
        for (_bucket, endpoint), sums in self.charts.items():
            merge(hists.setdefault(endpoint, {}), sums[5])
        rows = []
        for endpoint in sorted(hists):
            for bucket, count in sorted(hists[endpoint].items()):
                low, high = bucket_bounds(bucket)
                rows.append((endpoint, bucket, low, high, midpoint(bucket), count))
        return pd.DataFrame.from_records(rows, columns=LATENCY_COLUMNS)


def _bucket_then_endpoint(row: tuple[int, str, list[Any]]) -> tuple[int, str]:
    bucket, endpoint, _sums = row
    return bucket, endpoint


def status_class(status_code: int, error_kind: str) -> str:
    if status_code:
        return f"{status_code // 100}xx"
    return f"transport: {error_kind or 'other'}"


def failure_breakdowns(failures: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Failed attempts by endpoint x status-code class, by status code and by error kind."""
    if failures.empty:
        empty = pd.DataFrame(columns=["endpoint_id", "label", "attempts"])
        return {
            "by_endpoint_class": empty,
            "by_status": empty.copy(),
            "by_error": empty.copy(),
            "by_endpoint_label": empty.copy(),
        }
    frame = failures.assign(
        klass=[
            status_class(s, k) for s, k in zip(failures["status_code"], failures["error_kind"], strict=True)
        ],
        label=[
            str(s) if s else (k or "other")
            for s, k in zip(failures["status_code"], failures["error_kind"], strict=True)
        ],
    )

    def total(keys: list[str], name: str) -> pd.DataFrame:
        out = (
            frame.groupby(keys, sort=True)["count"].sum().reset_index().rename(columns={"count": "attempts"})
        )
        return out.rename(columns={"klass": name}) if "klass" in keys else out

    return {
        "by_endpoint_class": total(["endpoint_id", "klass"], "class"),
        "by_status": frame[frame["status_code"] > 0]
        .groupby("status_code")["count"]
        .sum()
        .reset_index()
        .rename(columns={"count": "attempts"})
        .sort_values(["attempts", "status_code"], ascending=[False, True]),
        "by_error": frame[frame["status_code"] == 0]
        .groupby("error_kind")["count"]
        .sum()
        .reset_index()
        .rename(columns={"count": "attempts"})
        .sort_values(["attempts", "error_kind"], ascending=[False, True]),
        "by_endpoint_label": total(["endpoint_id", "label"], "label"),
    }
