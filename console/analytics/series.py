"""Time series and distributions from rollups: success rates, volume and latency percentiles (all attempts)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from console.domain.latency import bucket_bounds, midpoint, percentiles

ALL = "(all endpoints)"
COUNTS = ["attempts", "successes", "http_errors", "timeouts", "network_errors", "first_attempts", "first_successes",
          "deliveries", "delivered"]  # fmt: skip


def _merge_hists(hists: Any) -> dict[int, int]:
    """The sum of several histograms."""
    merged: dict[int, int] = {}
    for hist in hists:
        for bucket, count in hist.items():
            merged[bucket] = merged.get(bucket, 0) + count
    return merged


def time_series(rollups: pd.DataFrame, bucket_ms: int, include_all: bool = True) -> pd.DataFrame:
    """Per time bucket and endpoint (plus all endpoints together): attempt counts by outcome, the attempt
    success rate, and latency p50/p95/p99 (ms)."""
    columns = ["bucket_ms", "endpoint_id", *COUNTS, "success_rate", "p50", "p95", "p99"]
    if rollups.empty:
        return pd.DataFrame(columns=columns)
    frame = rollups.assign(bucket_ms=rollups["bucket_ms"] // bucket_ms * bucket_ms)
    parts = [frame.assign(endpoint_id=ALL), frame] if include_all else [frame]
    out = []
    for part in parts:
        sums = part.groupby(["bucket_ms", "endpoint_id"], sort=True)[COUNTS].sum().reset_index()
        hists: dict[tuple[int, str], dict[int, int]] = {}
        for bucket, endpoint, hist in zip(part["bucket_ms"], part["endpoint_id"], part["hist"], strict=True):
            if hist:
                merged = hists.setdefault((int(bucket), endpoint), {})
                for b, c in hist.items():
                    merged[b] = merged.get(b, 0) + c
        quantiles = [
            percentiles(hists.get((int(b), e), {}), (0.5, 0.95, 0.99))
            for b, e in zip(sums["bucket_ms"], sums["endpoint_id"], strict=True)
        ]
        sums["success_rate"] = (sums["successes"] / sums["attempts"]).where(sums["attempts"] > 0)
        sums["p50"] = [q[0] for q in quantiles]
        sums["p95"] = [q[1] for q in quantiles]
        sums["p99"] = [q[2] for q in quantiles]
        out.append(sums)
    return pd.concat(out, ignore_index=True)[columns]


def latency_distribution(rollups: pd.DataFrame) -> pd.DataFrame:
    """Per endpoint, how many attempts fell in each latency bucket (ms bounds and midpoint)."""
    columns = ["endpoint_id", "bucket", "low_ms", "high_ms", "mid_ms", "attempts"]
    if rollups.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for endpoint, group in rollups.groupby("endpoint_id", sort=True):
        for bucket, count in sorted(_merge_hists(group["hist"]).items()):
            low, high = bucket_bounds(bucket)
            rows.append((endpoint, bucket, low, high, midpoint(bucket), count))
    return pd.DataFrame.from_records(rows, columns=columns)


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
        "by_status": frame[frame["status_code"] > 0].groupby("status_code")["count"].sum().reset_index()
        .rename(columns={"count": "attempts"}).sort_values(["attempts", "status_code"], ascending=[False, True]),
        "by_error": frame[frame["status_code"] == 0].groupby("error_kind")["count"].sum().reset_index()
        .rename(columns={"count": "attempts"}).sort_values(["attempts", "error_kind"], ascending=[False, True]),
        "by_endpoint_label": total(["endpoint_id", "label"], "label"),
    }  # fmt: skip
