"""The report's charts, each drawn from aggregates (never raw points) with a pinned id, so output is stable."""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from console.analytics.build import ReportData
from console.analytics.series import ALL

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569"]
LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
    "height": 360,
    "legend": {"orientation": "h", "yanchor": "top", "y": -0.15, "x": 0},
    "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
}


@dataclass(frozen=True)
class Chart:
    """A figure with the stable id its div gets and a caption saying what it counts."""

    id: str
    title: str
    caption: str
    figure: go.Figure


def text(value: object) -> str:
    """Data shown inside a chart: plotly renders some HTML tags in labels, so escape them."""
    return html.escape(str(value), quote=False)


def _times(ms: pd.Series) -> list[str]:
    return [pd.Timestamp(int(v), unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ") for v in ms]


def _figure(title: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title={"text": text(title), "font": {"size": 14}}, **LAYOUT)
    return figure


def success_rate_chart(data: ReportData) -> Chart:
    figure = _figure("Attempt success rate per endpoint")
    series = data.series
    for n, (endpoint, group) in enumerate(series.groupby("endpoint_id", sort=True)):
        figure.add_trace(go.Scatter(
            x=_times(group["bucket_ms"]), y=group["success_rate"], name=text(endpoint), mode="lines",
            line={"width": 3 if endpoint == ALL else 1.5, "color": "#111827" if endpoint == ALL else PALETTE[n % len(PALETTE)]},
        ))  # fmt: skip
    figure.add_hline(
        y=data.slo, line={"dash": "dot", "color": "#9ca3af"}, annotation_text=f"SLO {data.slo:.2%}"
    )
    figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    return Chart(
        "chart-success-rate",
        "Success rate over time",
        "Share of attempts answered 2xx, per bucket (attempts).",
        figure,
    )


def latency_chart(data: ReportData) -> Chart:
    figure = _figure("Latency percentiles, all endpoints")
    overall = data.series[data.series["endpoint_id"] == ALL]
    for name, color in (("p50", "#16a34a"), ("p95", "#d97706"), ("p99", "#dc2626")):
        figure.add_trace(
            go.Scatter(
                x=_times(overall["bucket_ms"]),
                y=overall[name],
                name=name,
                mode="lines",
                line={"color": color},
            )
        )
    figure.update_yaxes(title_text="ms", type="log")
    return Chart(
        "chart-latency",
        "Latency over time",
        "p50, p95 and p99 per bucket, from the rollups' histograms (attempts).",
        figure,
    )


def volume_chart(data: ReportData) -> Chart:
    figure = _figure("Attempts per bucket by outcome")
    overall = data.series[data.series["endpoint_id"] == ALL]
    for name, column, color in (("success", "successes", "#16a34a"), ("http error", "http_errors", "#d97706"),
                                ("timeout", "timeouts", "#7c3aed"), ("network error", "network_errors", "#dc2626")):  # fmt: skip
        figure.add_trace(
            go.Bar(x=_times(overall["bucket_ms"]), y=overall[column], name=name, marker_color=color)
        )
    figure.update_layout(barmode="stack")
    return Chart(
        "chart-volume", "Attempt volume", "Attempts per bucket, stacked by outcome (attempts).", figure
    )


def latency_distribution_chart(data: ReportData) -> Chart:
    figure = _figure("Latency distribution per endpoint")
    for n, (endpoint, group) in enumerate(data.latency.groupby("endpoint_id", sort=True)):
        share = group["attempts"] / group["attempts"].sum()
        figure.add_trace(go.Scatter(x=group["mid_ms"], y=share, name=text(endpoint), mode="lines",
                                    line={"shape": "hvh", "color": PALETTE[n % len(PALETTE)]}))  # fmt: skip
    figure.update_xaxes(type="log", title_text="latency (ms)")
    figure.update_yaxes(tickformat=".0%", title_text="share of attempts")
    return Chart(
        "chart-latency-distribution",
        "Latency distribution",
        "Share of each endpoint's attempts per latency bucket (attempts).",
        figure,
    )


def failure_heatmap(data: ReportData) -> Chart:
    figure = _figure("Failed attempts: endpoint x status")
    frame = data.failures["by_endpoint_label"]
    if not frame.empty:
        pivot = frame.pivot_table(
            index="endpoint_id", columns="label", values="attempts", aggfunc="sum", fill_value=0
        )
        pivot = pivot.reindex(sorted(pivot.columns, key=lambda c: (not str(c).isdigit(), str(c))), axis=1)
        figure.add_trace(go.Heatmap(z=pivot.to_numpy(), x=[text(c) for c in pivot.columns], y=[text(i) for i in pivot.index],
                                    colorscale="Reds", hovertemplate="%{y} · %{x}: %{z} failed attempts<extra></extra>"))  # fmt: skip
        figure.update_xaxes(type="category")
    return Chart(
        "chart-failures",
        "Failures by endpoint and status",
        "Failed attempts per status code or transport error (attempts).",
        figure,
    )


def retries_chart(data: ReportData) -> Chart:
    figure = _figure("Attempt that delivered")
    figure.add_trace(
        go.Bar(
            x=[str(a) for a in data.retries["attempt"]],
            y=data.retries["deliveries"],
            marker_color="#2563eb",
            name="deliveries",
        )
    )
    figure.update_xaxes(type="category", title_text="attempt number")
    figure.update_yaxes(type="log", title_text="deliveries")
    return Chart(
        "chart-retries",
        "Retries until success",
        "Delivered deliveries by the attempt that delivered them (deliveries).",
        figure,
    )


def backlog_chart(data: ReportData) -> Chart:
    figure = _figure("Undelivered backlog, with incidents")
    figure.add_trace(go.Scatter(x=_times(data.backlog["bucket_ms"]), y=data.backlog["undelivered"], name="undelivered",
                                mode="lines", fill="tozeroy", line={"color": "#dc2626"}))  # fmt: skip
    for incident in data.incidents.itertuples(index=False):
        start, end = _times(pd.Series([incident.start_ms, incident.end_ms]))
        figure.add_vrect(x0=start, x1=end, fillcolor="#f59e0b", opacity=0.18, line_width=0)
    return Chart(
        "chart-backlog",
        "Backlog over time",
        "Deliveries not yet delivered at each moment; shaded: incidents (deliveries).",
        figure,
    )


def all_charts(data: ReportData) -> list[Chart]:
    return [
        success_rate_chart(data),
        latency_chart(data),
        volume_chart(data),
        latency_distribution_chart(data),
        failure_heatmap(data),
        retries_chart(data),
        backlog_chart(data),
    ]
