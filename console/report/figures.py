"""The report's charts, each drawn from aggregates (never raw points) with a pinned id, so output is stable.

Figures are plain Plotly JSON (data and layout dicts), built in one go: no figure object is copied or
validated per trace or per shape, so a chart costs what its points cost. Every layout autosizes to its card.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console.analytics.build import ReportData
from console.analytics.incidents import MIN_ATTEMPTS
from console.analytics.rows import tuples
from console.analytics.series import ALL
from console.domain import formatting as fmt
from console.report.text import share

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569"]
HEIGHT = 360
INCIDENT_SHADES = ["#f59e0b", "#8b5cf6", "#0891b2", "#db2777", "#65a30d", "#475569"]  # one per endpoint
# ColorBrewer's Reds, from near white: plotly.js's own "Reds" starts at grey, which reads as data.
_REDS = ["#fff5f0", "#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d", "#a50f15", "#67000d"]
REDS = [[i / 8, c] for i, c in enumerate(_REDS)]
_AXIS = {"gridcolor": "#eef2f7", "linecolor": "#d1d5db", "zerolinecolor": "#e5e7eb", "automargin": True}

Figure = dict[str, Any]


@dataclass(frozen=True)
class Chart:
    """A figure with the stable id its div gets and a caption saying what it counts."""

    id: str
    title: str
    caption: str
    figure: Figure


def text(value: object) -> str:
    """Data shown inside a chart: plotly renders some HTML tags in labels, so escape them."""
    return html.escape(str(value), quote=False)


def _times(ms: Iterable[Any]) -> list[str]:
    return [datetime.fromtimestamp(int(v) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for v in ms]


def _values(values: Iterable[Any]) -> list[Any]:
    """Plain numbers for JSON, missing values as null."""
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]


def _figure(
    title: str,
    data: list[dict[str, Any]],
    *,
    x: dict[str, Any] | None = None,
    y: dict[str, Any] | None = None,
    **layout: Any,
) -> Figure:
    """A figure whose layout fills its card's width (no fixed width) at a fixed height."""
    base: dict[str, Any] = {
        "title": {"text": text(title), "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
        "autosize": True,
        "height": HEIGHT,
        "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12, "color": "#1f2937"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": PALETTE,
        "hoverlabel": {"namelength": -1},
        "xaxis": {**_AXIS, **(x or {})},
        "yaxis": {**_AXIS, **(y or {})},
    }
    base.update(layout)
    return {"data": data, "layout": base}


def _decades(low: float, high: float) -> list[float]:
    """Powers of ten covering [low, high] (both > 0): one tick per decade on a log axis."""
    if not (low > 0 and high > 0):
        return [1.0]
    return [10.0**k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]


def _ms_axis(values: Sequence[Any], **extra: Any) -> dict[str, Any]:
    """A log axis in milliseconds with one labelled tick per decade."""
    present = [float(v) for v in _values(values) if v is not None and v > 0]
    ticks = _decades(min(present), max(present)) if present else [1.0]
    return {"type": "log", "tickvals": ticks, "ticktext": [fmt.latency_label(t) for t in ticks], **extra}


def _rate_axis(rates: Sequence[float], slo: float) -> tuple[float, float, str]:
    """The success-rate range: zoomed to the all-endpoints line and the SLO, with a little room around."""
    low = min([slo, *rates]) if rates else slo
    span = max(1.0 - low, 0.002)
    bottom = max(0.0, low - 0.25 * span)
    top = 1.0 + 0.08 * span
    tick_format = ".0%" if top - bottom >= 0.08 else (".1%" if top - bottom >= 0.008 else ".2%")
    return bottom, top, tick_format


def success_rate_chart(data: ReportData) -> Chart:
    series = data.series
    overall = series[(series["endpoint_id"] == ALL) & (series["attempts"] >= MIN_ATTEMPTS)]
    bottom, top, tick_format = _rate_axis(_values(overall["success_rate"]), data.slo)
    traces: list[dict[str, Any]] = []
    below_x: list[str] = []
    below_text: list[str] = []
    for n, (endpoint, group) in enumerate(series.groupby("endpoint_id", sort=True)):
        x, y = _times(group["bucket_ms"]), _values(group["success_rate"])
        is_all = endpoint == ALL
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": text(endpoint),
                "x": x,
                "y": y,
                "line": {
                    "width": 3 if is_all else 1.5,
                    "color": "#111827" if is_all else PALETTE[n % len(PALETTE)],
                },
                "hovertemplate": "%{y:.2%}",
            }
        )
        for when, rate in zip(x, y, strict=True):
            if rate is not None and rate < bottom:
                below_x.append(when)
                below_text.append(f"{text(endpoint)}: {share(rate)}")
    if below_x:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "below the axis",
                "x": below_x,
                "y": [bottom] * len(below_x),
                "text": below_text,
                "hovertemplate": "%{text}<extra></extra>",
                "cliponaxis": False,
                "marker": {"symbol": "triangle-down", "size": 9, "color": "#dc2626"},
            }
        )
    slo_line = {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": data.slo,
        "y1": data.slo,
        "line": {"dash": "dot", "color": "#6b7280", "width": 1},
    }
    label = {
        "xref": "paper",
        "x": 1,
        "xanchor": "right",
        "yref": "y",
        "y": data.slo,
        "yanchor": "bottom",
        "text": f"SLO {share(data.slo)}",
        "showarrow": False,
        "font": {"color": "#4b5563", "size": 11},
    }
    figure = _figure(
        "Attempt success rate per endpoint",
        traces,
        x={"type": "date"},
        y={"range": [bottom, top], "tickformat": tick_format},
        shapes=[slo_line],
        annotations=[label],
    )
    return Chart(
        "chart-success-rate",
        "Success rate over time",
        "Share of attempts answered 2xx, per bucket (attempts). The axis is zoomed to the all-endpoints rate "
        "and the SLO; an endpoint below it shows as a red triangle at the bottom.",
        figure,
    )


def latency_chart(data: ReportData) -> Chart:
    overall = data.series[data.series["endpoint_id"] == ALL]
    x = _times(overall["bucket_ms"])
    traces = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": name,
            "x": x,
            "y": _values(overall[name]),
            "line": {"color": color},
            "hovertemplate": "%{y:.0f} ms",
        }
        for name, color in (("p50", "#16a34a"), ("p95", "#d97706"), ("p99", "#dc2626"))
    ]
    values = [*overall["p50"], *overall["p99"]]
    figure = _figure("Latency percentiles, all endpoints", traces, x={"type": "date"}, y=_ms_axis(values))
    return Chart(
        "chart-latency",
        "Latency over time",
        "p50, p95 and p99 per bucket, from the rollups' histograms (attempts).",
        figure,
    )


# (legend name, series column, colour) of each stacked bar
OUTCOME_BARS = (
    ("success", "successes", "#16a34a"),
    ("http error", "http_errors", "#d97706"),
    ("timeout", "timeouts", "#7c3aed"),
    ("network error", "network_errors", "#dc2626"),
)


def volume_chart(data: ReportData) -> Chart:
    overall = data.series[data.series["endpoint_id"] == ALL]
    x = _times(overall["bucket_ms"])
    traces = [
        {"type": "bar", "name": name, "x": x, "y": _values(overall[column]), "marker": {"color": color}}
        for name, column, color in OUTCOME_BARS
    ]
    figure = _figure(
        "Attempts per bucket by outcome", traces, x={"type": "date"}, barmode="stack", bargap=0.1
    )
    return Chart(
        "chart-volume", "Attempt volume", "Attempts per bucket, stacked by outcome (attempts).", figure
    )


def latency_distribution_chart(data: ReportData) -> Chart:
    traces = []
    for n, (endpoint, group) in enumerate(data.latency.groupby("endpoint_id", sort=True)):
        share = group["attempts"] / group["attempts"].sum()
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": text(endpoint),
                "x": _values(group["mid_ms"]),
                "y": _values(share),
                "line": {"shape": "hvh", "color": PALETTE[n % len(PALETTE)]},
                "hovertemplate": "%{x:.0f} ms: %{y:.1%}",
            }
        )
    figure = _figure(
        "Latency distribution per endpoint",
        traces,
        x=_ms_axis(list(data.latency["mid_ms"])),
        y={"tickformat": ".0%", "title": {"text": "share of attempts"}},
    )
    return Chart(
        "chart-latency-distribution",
        "Latency distribution",
        "Share of each endpoint's attempts per latency bucket (attempts).",
        figure,
    )


def failure_heatmap(data: ReportData) -> Chart:
    frame = data.failures["by_endpoint_label"]
    traces = []
    if not frame.empty:
        pivot = frame.pivot_table(
            index="endpoint_id", columns="label", values="attempts", aggfunc="sum", fill_value=0
        )
        status_codes_first = sorted(pivot.columns, key=lambda c: (not str(c).isdigit(), str(c)))
        pivot = pivot.reindex(status_codes_first, axis=1)
        traces.append(
            {
                "type": "heatmap",
                "z": pivot.to_numpy().tolist(),
                "x": [text(c) for c in pivot.columns],
                "y": [text(i) for i in pivot.index],
                "colorscale": REDS,
                "hovertemplate": "%{y} · %{x}: %{z} failed attempts<extra></extra>",
            }
        )
    figure = _figure(
        "Failed attempts: endpoint x status", traces, x={"type": "category"}, y={"type": "category"}
    )
    return Chart(
        "chart-failures",
        "Failures by endpoint and status",
        "Failed attempts per status code or transport error (attempts).",
        figure,
    )


def retries_chart(data: ReportData) -> Chart:
    counts = _values(data.retries["deliveries"])
    ticks = _decades(1, max(counts)) if counts else [1.0]
    traces = [
        {
            "type": "bar",
            "name": "deliveries",
            "x": [str(a) for a in data.retries["attempt"]],
            "y": counts,
            "marker": {"color": "#2563eb"},
            "hovertemplate": "attempt %{x}: %{y:,} deliveries<extra></extra>",
        }
    ]
    figure = _figure(
        "Attempt that delivered",
        traces,
        x={"type": "category", "title": {"text": "attempt number"}},
        y={"type": "log", "tickvals": ticks, "tickformat": "~s", "title": {"text": "deliveries"}},
    )
    return Chart(
        "chart-retries",
        "Retries until success",
        "Delivered deliveries by the attempt that delivered them (deliveries).",
        figure,
    )


def backlog_chart(data: ReportData) -> Chart:
    traces = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "undelivered",
            "x": _times(data.backlog["bucket_ms"]),
            "y": _values(data.backlog["undelivered"]),
            "fill": "tozeroy",
            "line": {"color": "#dc2626"},
        }
    ]
    incidents = data.incidents.sort_values(["start_ms", "endpoint_id"])
    shades: dict[str, str] = {}
    shapes, named = [], set()
    for r in tuples(incidents):
        shade = shades.setdefault(r.endpoint_id, INCIDENT_SHADES[len(shades) % len(INCIDENT_SHADES)])
        name = f"incident at {text(r.endpoint_id)}" + (" (ongoing)" if r.ongoing else "")
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": _times([r.start_ms])[0],
                "x1": _times([r.end_ms])[0],
                "y0": 0,
                "y1": 1,
                "fillcolor": shade,
                "opacity": 0.2,
                "line": {"width": 0},
                "layer": "below",
                "name": name,
                "legendgroup": name,
                "showlegend": name not in named,
            }
        )
        named.add(name)
    figure = _figure(
        "Undelivered backlog, with incidents",
        traces,
        x={"type": "date"},
        y={"rangemode": "tozero", "title": {"text": "deliveries"}},
        shapes=shapes,
        showlegend=True,
    )
    return Chart(
        "chart-backlog",
        "Backlog over time",
        "Deliveries not yet delivered at each moment; shaded: incidents, one colour per endpoint, named in the "
        "legend (deliveries).",
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
