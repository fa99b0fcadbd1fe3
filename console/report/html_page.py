"""The self-contained HTML report: header, KPI cards, charts, tables, footer. Every piece of data is escaped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson
import pandas as pd

from console import __version__
from console.analytics.build import ReportData
from console.analytics.rows import tuples
from console.domain import formatting as fmt
from console.domain.kpis import EndpointKpis, Kpis
from console.domain.times import format_ms
from console.domain.whatif import WhatIfResult
from console.report.figures import Chart, all_charts
from console.report.gaps_section import gaps_section
from console.report.header import filter_notes
from console.report.plotlyjs import plotly_js, plotly_js_version
from console.report.summary import summary_sentences
from console.report.text import amount_text, esc, share
from console.report.whatif_section import whatif_section

CHART_CONFIG = {"responsive": True, "displaylogo": False}
INCIDENT_ROWS = 50
REPLAY_HEADERS = [
    "job",
    "state",
    "created",
    "items",
    "delivered",
    "failed",
    "skipped",
    "operator",
    "reason",
    "selection",
]
STYLE = """
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#111827;background:#f8fafc}
header,main,footer{max-width:1200px;margin:0 auto;padding:16px}header h1{margin:0 0 4px;font-size:22px}
.meta{color:#4b5563}.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px;margin:12px 0}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px}.card b{display:block;font-size:22px}
.card small{color:#6b7280}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:12px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px;margin:12px 0;min-width:0;overflow:hidden}
.chart{width:100%;height:360px}
section h2{font-size:16px;margin:0 0 2px}.caption{color:#6b7280;margin:0 0 6px;font-size:12px}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #f1f5f9;vertical-align:top}th{background:#f8fafc;white-space:nowrap}
th.n{text-align:right}td.n{text-align:right;font-variant-numeric:tabular-nums}.summary p{margin:4px 0;font-size:15px}code{font-size:11.5px;word-break:break-all;white-space:pre-wrap}
.empty{padding:24px;text-align:center;color:#6b7280;font-size:16px}footer{color:#6b7280;font-size:12px}
"""


def _text(value: object) -> str:
    """A text cell that may be missing (None, or NaN from a frame): "-" then."""
    return value if isinstance(value, str) and value else "-"


def when(ms: int | None) -> str:
    """A moment as RFC 3339 UTC, with milliseconds only when there are some (`2026-10-31T04:00:00Z`)."""
    text = format_ms(None if ms is None or pd.isna(ms) else int(ms))
    return text.replace(".000Z", "Z")


def _cards(data: ReportData) -> str:
    """The KPI cards. Undelivered is what is undelivered now, whenever first tried (as `stats` and the console
    count it), with its age from now and how many of them were first tried in the window."""
    k = data.stats.overall
    oldest = fmt.age(data.oldest_undelivered_ms, data.now_ms)
    resolved = sum(n for _reason, n in data.resolved_now)  # left out of undelivered, counted apart
    cards = [
        ("Attempts", fmt.count(k.attempts), f"{fmt.count(k.failures)} failed (attempts)"),
        ("Deliveries", fmt.count(k.deliveries), "events x endpoints first tried here"),
        ("First-attempt success", share(k.first_attempt_success_rate), "of attempts numbered 1"),
        ("Final success", share(k.final_success_rate), "of deliveries, delivered by now"),
        (
            "Undelivered now",
            fmt.count(data.undelivered),
            f"oldest {oldest}; {fmt.count(k.undelivered)} first tried in the window (deliveries)"
            + (f"; {fmt.count(resolved)} resolved, won't send" if resolved else ""),
        ),
        (
            "Latency p50 / p95 / p99",
            fmt.latency(k.latency.p50),
            f"{fmt.latency(k.latency.p95)} / {fmt.latency(k.latency.p99)} (attempts)",
        ),
    ]
    body = "".join(
        f'<div class="card"><small>{esc(name)}</small><b>{esc(value)}</b><small>{esc(note)}</small></div>'
        for name, value, note in cards
    )
    return f'<div class="cards">{body}</div>'


def _cell(value: object, numeric: bool, code: bool) -> str:
    if code:
        return f"<td><code>{esc(value)}</code></td>"
    return f'<td class="n">{esc(value)}</td>' if numeric else f"<td>{esc(value)}</td>"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    numeric: Iterable[int] = (),
    code: Iterable[int] = (),
) -> str:
    numbers, codes = set(numeric), set(code)
    head = "".join(
        f'<th class="n">{esc(h)}</th>' if i in numbers and i not in codes else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>" + "".join(_cell(c, i in numbers, i in codes) for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    if not body:
        body = f'<tr><td colspan="{len(headers)}">none</td></tr>'
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _section(title: str, caption: str, content: str) -> str:
    return f'<section><h2>{esc(title)}</h2><p class="caption">{esc(caption)}</p>{content}</section>'


def _chart(chart: Chart) -> str:
    """The chart's card: an empty div its figure is drawn into once the page is laid out (see _draw_script)."""
    return (
        f'<section><h2>{esc(chart.title)}</h2><p class="caption">{esc(chart.caption)}</p>'
        f'<div id="{esc(chart.id)}" class="chart"></div></section>'
    )


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element whatever the data holds."""
    dumped = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        dumped = dumped.replace(raw, escaped)
    return dumped


def _draw_script(charts: Sequence[Chart]) -> str:
    """Draw every chart after the grid has its final columns, and redraw it whenever its card changes size:
    a chart drawn while it was alone on its row would otherwise keep that width when the grid reflows."""
    figures = [{"id": c.id, "data": c.figure["data"], "layout": c.figure["layout"]} for c in charts]
    return (
        "<script>(function () {\n"
        f"var charts = {_script_json(figures)};\nvar config = {_script_json(CHART_CONFIG)};\n"
        "function draw() {\n"
        "  charts.forEach(function (c) {\n"
        "    var div = document.getElementById(c.id);\n"
        "    Plotly.newPlot(div, c.data, c.layout, config);\n"
        "    if (window.ResizeObserver) { new ResizeObserver(function () { Plotly.Plots.resize(div); }).observe(div); }\n"
        "  });\n}\n"
        'if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }\n'
        "})();</script>"
    )


ENDPOINT_HEADERS = (
    "endpoint",
    "attempts",
    "1st-try",
    "final",
    "undelivered now",
    "p50",
    "p95",
    "p99",
    "top failures",
)
INCIDENT_HEADERS = (
    "#",
    "endpoint",
    "start",
    "end",
    "duration",
    "failed attempts",
    "success",
    "affected",
    "still undelivered",
)
FAILING_HEADERS = (
    "event",
    "endpoint",
    "type",
    "user",
    "reward",
    "amount",
    "failed",
    "delivered",
    "last",
    "payload",
)
ORDERING_HEADERS = (
    "endpoint",
    "user",
    "event",
    "occurred",
    "delivered",
    "overtook",
    "its occurrence",
    "its delivery",
)


def _endpoint_rows(data: ReportData) -> list[EndpointKpis]:
    """The window's endpoints, and those with deliveries undelivered now but no attempt in the window."""
    listed = {e.endpoint_id for e in data.stats.endpoints}
    idle = [EndpointKpis(e, Kpis()) for e in sorted(data.undelivered_now) if e not in listed]
    return sorted([*data.stats.endpoints, *idle], key=lambda e: e.endpoint_id)


def _tables(data: ReportData) -> list[str]:
    endpoints = [
        (
            e.endpoint_id,
            fmt.count(e.kpis.attempts),
            share(e.kpis.first_attempt_success_rate),
            share(e.kpis.final_success_rate),
            fmt.count(data.undelivered_now.get(e.endpoint_id, (0, 0))[0]),
            fmt.latency(e.kpis.latency.p50),
            fmt.latency(e.kpis.latency.p95),
            fmt.latency(e.kpis.latency.p99),
            ", ".join(f"{c.label} x{fmt.count(c.count)}" for c in (*e.top_status_codes, *e.top_errors))
            or "-",
        )
        for e in _endpoint_rows(data)
    ]
    incidents = [
        (
            n,
            r.endpoint_id,
            when(r.start_ms),
            "ongoing" if r.ongoing else when(r.end_ms),
            fmt.duration(r.duration_s * 1000) + (" so far" if r.ongoing else ""),
            fmt.count(r.failed_attempts),
            share(r.success_rate),
            fmt.count(r.events_affected),
            fmt.count(r.still_undelivered),
        )
        for n, r in enumerate(tuples(data.incidents.head(INCIDENT_ROWS)), start=1)
    ]
    shown = ""
    if len(data.incidents) > INCIDENT_ROWS:
        shown = f" The worst {INCIDENT_ROWS} of {fmt.count(len(data.incidents))}."
    failing = [
        (
            r.event_id,
            r.endpoint_id,
            r.event_type,
            r.user_id,
            r.reward_id,
            amount_text(r.amount, r.currency),
            r.failed,
            "yes" if r.delivered else "no",
            r.last_status_code if pd.notna(r.last_status_code) else r.last_error,
            r.payload_excerpt,
        )
        for r in tuples(data.top_failing)
    ]
    failing_html = table(FAILING_HEADERS, failing, numeric=[6], code=[9])
    ordering = [
        (
            r.endpoint_id,
            r.user_id,
            r.event_id,
            when(r.occurred_at),
            when(r.delivered_at),
            r.overtook_event_id,
            when(r.overtook_occurred_at),
            when(r.overtook_delivered_at),
        )
        for r in tuples(data.ordering)
    ]
    duplicates = [
        (r.event_id, r.endpoint_id, r.event_type, r.successes, r.user_id) for r in tuples(data.duplicates)
    ]
    replays = []
    for r in tuples(data.replays):
        to = f" (to {r.target_url})" if isinstance(r.target_url, str) else ""
        why = _text(r.reason) + to
        replays.append(
            (
                r.job_id,
                r.state,
                when(r.created_at),
                r.items,
                r.delivered,
                r.failed,
                r.skipped,
                _text(r.operator),
                why,
                r.selection,
            )
        )
    delivery_times = [
        (
            r.endpoint_id,
            fmt.count(r.delivered),
            *(fmt.duration(s * 1000) for s in (r.p50_s, r.p95_s, r.max_s)),
        )
        for r in tuples(data.time_to_delivery)
    ]
    statuses = [(r.status_code, fmt.count(r.attempts)) for r in tuples(data.failures["by_status"])]
    errors = [(r.error_kind, fmt.count(r.attempts)) for r in tuples(data.failures["by_error"])]
    return [
        _section(
            "Endpoints",
            "Attempts and latency count attempts in the window; final success counts the deliveries first tried in "
            "it; undelivered now counts deliveries not delivered yet, whenever first tried.",
            table(ENDPOINT_HEADERS, endpoints, [1, 2, 3, 4, 5, 6, 7]),
        ),
        _section(
            "Incidents",
            f"Stretches where an endpoint's attempt success rate stayed below the SLO ({share(data.slo)}), most "
            "harmful first: most still undelivered, then the lowest success, then the most affected. Affected: "
            "events with a failed attempt in it; still undelivered: of those, not delivered by now; ongoing: still "
            f"below the SLO in the newest data, its duration counted to then.{shown}",
            table(INCIDENT_HEADERS, incidents, [0, 5, 6, 7, 8]),
        ),
        _section(
            "Top failing events",
            "Deliveries with the most failed attempts, undelivered first (deliveries).",
            failing_html,
        ),
        _section(
            "Replay jobs",
            "Jobs created in the window, who started them and why, and what they recovered "
            "(deliveries; a job sent to another target changed none).",
            table(REPLAY_HEADERS, replays, [3, 4, 5, 6]),
        ),
        _section(
            "Time to delivery",
            "From first attempt to delivery (delivered deliveries).",
            table(["endpoint", "delivered", "p50", "p95", "max"], delivery_times, [1, 2, 3, 4]),
        ),
        _section(
            "Failures by status code and error",
            "Failed attempts (attempts).",
            table(["status", "attempts"], statuses, [1])
            + table(["transport error", "attempts"], errors, [1]),
        ),
        *([_whatif(data, data.whatif)] if data.whatif is not None else []),
        _section(
            "Ordering anomalies",
            f"{fmt.counted(data.ordering_count, 'delivery')} reached their endpoint before an earlier event of the "
            f"same user{_listed(data.ordering_count, len(data.ordering), 'first')}.",
            table(ORDERING_HEADERS, ordering),
        ),
        _section(
            "Duplicate deliveries", _duplicates_caption(data), table(DUPLICATE_HEADERS, duplicates, [3])
        ),
        *([gaps_section(data.gaps, _section, table)] if data.gaps is not None else []),
    ]


DUPLICATE_HEADERS = ("event", "endpoint", "type", "acknowledgements", "user")


def _listed(count: int, shown: int, which: str) -> str:
    """ " (the first 50 listed)" when a list holds fewer rows than it counts."""
    return f" (the {which} {fmt.count(shown)} listed)" if shown < count else ""


def _duplicates_caption(data: ReportData) -> str:
    count = data.duplicates_count
    if not count:
        return "No delivery was acknowledged more than once."
    most = int(data.duplicates["successes"].max())
    return (
        f"{fmt.counted(count, 'delivery')} acknowledged more than once, at most {fmt.counted(most, 'time')}"
        f"{_listed(count, len(data.duplicates), 'most acknowledged')}."
    )


def _whatif(data: ReportData, result: WhatIfResult) -> str:
    """The what-if section, saying which of the report's filters it does not apply."""
    flt = data.filter
    unapplied = [f"event type ({', '.join(flt.event_types)})"] if flt.event_types else []
    if flt.where:
        unapplied.append(f"payload filter (where {flt.where.text})")
    return whatif_section(result, _section, table, when, tuple(unapplied))


def _summary(data: ReportData) -> str:
    body = "".join(f"<p>{esc(s)}</p>" for s in summary_sentences(data))
    return f'<section class="summary"><h2>Summary</h2>{body}</section>'


def render_report(
    data: ReportData, *, title: str, plotlyjs: str, generated_at_ms: int, store_name: str
) -> str:
    """The whole page as text. Same data, title and generation time: same bytes."""
    window = (
        f"{when(data.window.since_ms)} to {when(data.window.until_ms)} ({fmt.duration(data.window.span_ms)})"
    )
    scope = data.filter.with_(since_ms=None, until_ms=None).describe()
    if plotlyjs == "inline":
        script = f'<script type="text/javascript">{plotly_js()}</script>'
    else:
        script = (
            f'<script src="https://cdn.plot.ly/plotly-{plotly_js_version()}.min.js" charset="utf-8"></script>'
        )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}</style>{script}</head><body>",
        f'<header><h1>{esc(title)}</h1><div class="meta">{esc(window)} · {esc(scope)} · '
        f"SLO {share(data.slo)} · charts in {esc(fmt.duration(data.window.bucket_ms))} buckets</div>"
        + filter_notes(data)
        + "</header><main>",
        _summary(data),
    ]
    if data.empty:
        parts.append(
            '<div class="empty">No attempts and no deliveries in this window: nothing to report.</div>'
        )
    else:
        parts.append(_cards(data))
        charts = all_charts(data)
        parts.append('<div class="charts">' + "".join(_chart(c) for c in charts) + "</div>")
        parts.extend(_tables(data))
        parts.append(_draw_script(charts))
    parts.append(
        f"<footer>Generated {esc(when(generated_at_ms))} by hookconsole {esc(__version__)} from {esc(store_name)}. "
        "Attempts are HTTP requests; deliveries are events at endpoints (attempted one or more times).</footer>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts)
