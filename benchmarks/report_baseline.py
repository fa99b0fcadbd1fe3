"""The report benchmark's baseline: a bare pandas + plotly script that builds the report's seven figures over the
same window of the same store (the per-minute rollups of every endpoint, the failure counts, the window's
deliveries) and writes them to one HTML file with plotly.js inline, the way one would without hookconsole.

Run alone: `python -m benchmarks.report_baseline STORE.db SINCE_MS UNTIL_MS OUT.html`.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

BUCKET = "15min"  # the report's bucket for a 24 h window
BANDS = 20  # shaded incident bands on the backlog chart
COUNTS = [
    "attempts",
    "successes",
    "http_errors",
    "timeouts",
    "network_errors",
    "latency_count",
    "latency_sum",
]


def build(db: Path, since_ms: int, until_ms: int, out: Path) -> int:
    """Read, aggregate, draw seven figures, write the page; returns the page's size in bytes."""
    with sqlite3.connect(db) as con:
        minutes = pd.read_sql_query(
            f"SELECT bucket, endpoint_id, {', '.join(COUNTS)} FROM rollup_minute WHERE bucket >= ? AND bucket < ?",
            con,
            params=(since_ms // 60_000, until_ms // 60_000),
        )
        failures = pd.read_sql_query(
            "SELECT endpoint_id, status_code, error_kind, count FROM failure_minute WHERE bucket >= ? AND bucket < ?",
            con,
            params=(since_ms // 60_000, until_ms // 60_000),
        )
        deliveries = pd.read_sql_query(
            "SELECT first_attempt_at, delivered_at, delivered_attempt FROM delivery "
            "WHERE first_attempt_at >= ? AND first_attempt_at < ?",
            con,
            params=(since_ms, until_ms),
        )
    minutes["time"] = pd.to_datetime(minutes["bucket"] * 60_000, unit="ms").dt.floor(BUCKET)
    minutes["latency"] = minutes["latency_sum"] / minutes["latency_count"].where(minutes["latency_count"] > 0)
    per = minutes.groupby(["time", "endpoint_id"], as_index=False)[COUNTS].sum()
    per["rate"] = per["successes"] / per["attempts"]
    overall = per.groupby("time", as_index=False)[COUNTS].sum()
    overall["rate"] = overall["successes"] / overall["attempts"]
    latency = minutes.groupby("time")["latency"].quantile([0.5, 0.95, 0.99]).unstack()
    layout = {"height": 360, "margin": {"l": 56, "r": 16, "t": 40, "b": 40}, "template": "plotly_white"}

    success = go.Figure(layout=layout)
    for endpoint, group in per.groupby("endpoint_id"):
        success.add_trace(go.Scatter(x=group["time"], y=group["rate"], name=endpoint, mode="lines"))
    success.add_trace(go.Scatter(x=overall["time"], y=overall["rate"], name="all", line={"width": 3}))
    success.add_hline(y=0.99, line_dash="dot")
    lat = go.Figure(layout=layout)
    for q in latency.columns:
        lat.add_trace(go.Scatter(x=latency.index, y=latency[q], name=f"p{round(q * 100)}", mode="lines"))
    lat.update_yaxes(type="log")
    volume = go.Figure(layout=layout)
    for column in ("successes", "http_errors", "timeouts", "network_errors"):
        volume.add_trace(go.Bar(x=overall["time"], y=overall[column], name=column))
    volume.update_layout(barmode="stack")
    spread = go.Figure(layout=layout)
    for endpoint, group in minutes.groupby("endpoint_id"):
        counts, edges = np.histogram(np.log10(group["latency"].dropna()), bins=60)
        spread.add_trace(go.Scatter(x=10 ** edges[:-1], y=counts / max(counts.sum(), 1), name=endpoint))
    spread.update_xaxes(type="log")
    failures["label"] = np.where(
        failures["status_code"] > 0, failures["status_code"].astype(str), failures["error_kind"]
    )
    pivot = failures.pivot_table(
        index="endpoint_id", columns="label", values="count", aggfunc="sum", fill_value=0
    )
    heat = go.Figure(
        go.Heatmap(z=pivot.to_numpy(), x=list(pivot.columns), y=list(pivot.index)), layout=layout
    )
    tries = deliveries["delivered_attempt"].dropna().astype(int).value_counts().sort_index()
    retries = go.Figure(go.Bar(x=[str(a) for a in tries.index], y=tries.to_numpy()), layout=layout)
    retries.update_yaxes(type="log")
    edges = np.arange(since_ms, until_ms, 15 * 60_000) + 15 * 60_000
    opened = np.searchsorted(np.sort(deliveries["first_attempt_at"].to_numpy()), edges)
    closed = np.searchsorted(np.sort(deliveries["delivered_at"].dropna().to_numpy()), edges)
    times = pd.to_datetime(edges, unit="ms")
    backlog = go.Figure(
        go.Scatter(x=times, y=opened - closed, fill="tozeroy", name="undelivered"), layout=layout
    )
    step = max(len(times) // BANDS, 1)
    backlog.update_layout(
        shapes=[
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": times[i],
                "x1": times[min(i + 1, len(times) - 1)],
                "y0": 0,
                "y1": 1,
                "fillcolor": "#f59e0b",
                "opacity": 0.2,
                "line": {"width": 0},
            }
            for i in range(0, step * BANDS, step)
            if i < len(times)
        ]
    )

    figures = [success, lat, volume, spread, heat, retries, backlog]
    body = "".join(f.to_html(full_html=False, include_plotlyjs=False) for f in figures)
    page = f"<html><head><script>{get_plotlyjs()}</script></head><body>{body}</body></html>"
    out.write_text(page)
    return len(page)


if __name__ == "__main__":
    build(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
