"""Figures over deliveries (an event at an endpoint): retries until success, time to delivery, the backlog
over time, ordering anomalies, duplicates and the top failing events."""

from __future__ import annotations

import numpy as np
import pandas as pd

from console.analytics.rows import tuples

PAYLOAD_EXCERPT = 160


def retries_until_success(deliveries: pd.DataFrame) -> pd.DataFrame:
    """How many deliveries succeeded on their 1st, 2nd, ... attempt (deliveries)."""
    done = deliveries[deliveries["delivered_at"].notna()]
    if done.empty:
        return pd.DataFrame(columns=["attempt", "deliveries"])
    counts = done["delivered_attempt"].astype(int).value_counts().sort_index()
    return pd.DataFrame({"attempt": counts.index.astype(int), "deliveries": counts.to_numpy(dtype=int)})


def time_to_delivery(deliveries: pd.DataFrame) -> pd.DataFrame:
    """Per endpoint: seconds from first attempt to delivery, p50, p95 and max (delivered deliveries)."""
    done = deliveries[deliveries["delivered_at"].notna()]
    columns = ["endpoint_id", "delivered", "p50_s", "p95_s", "max_s"]
    if done.empty:
        return pd.DataFrame(columns=columns)
    seconds = (done["delivered_at"].astype("int64") - done["first_attempt_at"].astype("int64")) / 1000
    frame = done.assign(seconds=seconds)
    rows = []
    for endpoint, group in frame.groupby("endpoint_id", sort=True):
        values = group["seconds"]
        rows.append(
            (
                endpoint,
                len(values),
                float(values.quantile(0.5)),
                float(values.quantile(0.95)),
                float(values.max()),
            )
        )
    return pd.DataFrame.from_records(rows, columns=columns)


def backlog_series(
    deliveries: pd.DataFrame, since_ms: int, until_ms: int, bucket_ms: int, at_start: int
) -> pd.DataFrame:
    """Undelivered deliveries at the end of each bucket: those still open from before the window, plus the
    window's deliveries first tried by then and not delivered by then (deliveries)."""
    edges = list(range(since_ms + bucket_ms, until_ms + bucket_ms, bucket_ms))
    if deliveries.empty:
        return pd.DataFrame(
            {"bucket_ms": [e - bucket_ms for e in edges], "undelivered": [at_start] * len(edges)}
        )
    first = deliveries["first_attempt_at"].astype("int64").sort_values().to_numpy()
    delivered = deliveries["delivered_at"].dropna().astype("int64").sort_values().to_numpy()
    opened = np.searchsorted(first, edges, side="left")
    closed = np.searchsorted(delivered, edges, side="left")
    values = at_start + opened - closed
    return pd.DataFrame({"bucket_ms": [e - bucket_ms for e in edges], "undelivered": values.astype(int)})


def ordering_anomalies(deliveries: pd.DataFrame, limit: int = 50) -> tuple[int, pd.DataFrame]:
    """Deliveries that reached an endpoint before a delivery of an event the same user made earlier.

    Returns their count and the first `limit`, each with the earlier event it overtook (deliveries)."""
    columns = ["endpoint_id", "user_id", "event_id", "occurred_at", "delivered_at", "overtook_event_id",
               "overtook_occurred_at", "overtook_delivered_at"]  # fmt: skip
    keys = ["endpoint_id", "user_id"]
    done = deliveries.loc[deliveries["delivered_at"].notna() & deliveries["user_id"].notna(),
                          [*keys, "event_id", "occurred_at", "delivered_at"]]  # fmt: skip
    if done.empty:
        return 0, pd.DataFrame(columns=columns)
    done = done.astype({"occurred_at": "int64", "delivered_at": "int64"})
    # The latest delivery among events that occurred strictly earlier, per user and endpoint.
    moments = done.groupby([*keys, "occurred_at"], sort=True)["delivered_at"].max().reset_index()
    moments["earlier_max"] = moments.groupby(keys)["delivered_at"].cummax()
    moments["earlier_max"] = moments.groupby(keys)["earlier_max"].shift(1)
    merged = done.merge(moments[[*keys, "occurred_at", "earlier_max"]], on=[*keys, "occurred_at"])
    late = merged[merged["delivered_at"] < merged["earlier_max"]].sort_values(
        [*keys, "occurred_at", "event_id"]
    )
    rows = []
    for record in tuples(late.head(limit)):
        same = done[(done["endpoint_id"] == record.endpoint_id) & (done["user_id"] == record.user_id)
                    & (done["occurred_at"] < record.occurred_at) & (done["delivered_at"] == record.earlier_max)]  # fmt: skip
        overtaken = same.sort_values(["occurred_at", "event_id"]).iloc[0]
        rows.append((record.endpoint_id, record.user_id, record.event_id, int(record.occurred_at), int(record.delivered_at),
                     overtaken["event_id"], int(overtaken["occurred_at"]), int(overtaken["delivered_at"])))  # fmt: skip
    return len(late), pd.DataFrame.from_records(rows, columns=columns)


def duplicate_deliveries(deliveries: pd.DataFrame) -> pd.DataFrame:
    """Deliveries acknowledged more than once by their endpoint (deliveries)."""
    dupes = deliveries[deliveries["successes"] > 1]
    return dupes[["event_id", "endpoint_id", "event_type", "successes", "attempts", "user_id"]].sort_values(
        ["successes", "event_id"], ascending=[False, True]
    )


def top_failing_events(deliveries: pd.DataFrame, limit: int = 20) -> pd.DataFrame:
    """The deliveries with the most failed attempts, undelivered ones first (deliveries)."""
    failing = deliveries[deliveries["attempts"] > deliveries["successes"]]
    columns = ["event_id", "endpoint_id", "event_type", "user_id", "reward_id", "amount", "currency", "attempts",
               "failed", "delivered", "last_status_code", "last_error"]  # fmt: skip
    if failing.empty:
        return pd.DataFrame(columns=columns)
    frame = failing.assign(
        failed=failing["attempts"] - failing["successes"], delivered=failing["delivered_at"].notna()
    )
    frame = frame.sort_values(
        ["delivered", "failed", "first_attempt_at", "event_id"], ascending=[True, False, True, True]
    )
    return frame.head(limit)[columns].reset_index(drop=True)


def with_payload_excerpts(frame: pd.DataFrame, payloads: dict[str, bytes]) -> pd.DataFrame:
    """Add the first characters of each event's payload."""
    excerpts = [
        payloads.get(e, b"")[:PAYLOAD_EXCERPT].decode("utf-8", errors="replace") for e in frame["event_id"]
    ]
    return frame.assign(payload_excerpt=excerpts)
