"""`hookconsole stats`: the dashboard's figures as text or JSON."""

from __future__ import annotations

from typing import Any

import click
import orjson

from console.cli.context import app_context, store_options
from console.cli.filters import build_filter, filter_options, warn_about_filter
from console.cli.gap_options import gap_options
from console.cli.output import table
from console.domain import formatting as fmt
from console.domain.gaps import GapRules, gaps_dict
from console.domain.kpis import Kpis, StatsSnapshot, snapshot_dict
from console.domain.times import format_ms, now_ms
from console.store.gaps import find_gaps
from console.store.live import endpoint_sources
from console.store.stats import read_stats


@click.command("stats")
@store_options
@filter_options(status=False)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON (stable keys).")
@gap_options
def stats_command(
    as_json: bool, gaps: bool, stuck_after: int, max_tries: int, in_flight: int, **options: Any
) -> None:
    """Attempts, deliveries, success rates and latency, overall and per endpoint."""
    flt = build_filter(**options)
    app = app_context()
    snapshot = read_stats(app.store(), flt)
    warn_about_filter(app.store(), flt)
    now = now_ms()
    if as_json:
        data = snapshot_dict(snapshot, now)
        # the dispatcher tenants whose endpoints the store holds: what --source takes
        stored = endpoint_sources(app.store())
        data["sources"] = [{"source": label, "endpoints": len(ids)} for label, ids in stored.items()]
        if gaps:
            rules = GapRules(stuck_after_ms=stuck_after, max_tries=max_tries, in_flight_ms=in_flight)
            found = find_gaps(app.store(), flt, rules, now)
            if found is not None:  # (None: a store from before the gap state, read as it is)
                data["gaps"] = gaps_dict(found)
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(render_stats(snapshot, now, app.store().display_url))


def _summary_lines(k: Kpis, now: int) -> list[str]:
    return [
        f"attempts               {fmt.count(k.attempts)}  (success {fmt.count(k.successes)}, http_error "
        f"{fmt.count(k.http_errors)}, timeout {fmt.count(k.timeouts)}, network_error {fmt.count(k.network_errors)})",
        f"deliveries             {fmt.count(k.deliveries)}  (delivered {fmt.count(k.delivered)}, undelivered "
        f"{fmt.count(k.undelivered)}"
        + (f", resolved {fmt.count(k.resolved)}" if k.resolved else "")  # won't send: counted apart
        + f", oldest undelivered {fmt.age(k.oldest_undelivered_ms, now)})",
        f"first-attempt success  {fmt.pct(k.first_attempt_success_rate)}  (of attempts numbered 1)",
        f"final success          {fmt.pct(k.final_success_rate)}  (of deliveries)",
        f"latency (attempts)     p50 {fmt.latency(k.latency.p50)}  p95 {fmt.latency(k.latency.p95)}  "
        f"p99 {fmt.latency(k.latency.p99)}",
    ]


def render_stats(snapshot: StatsSnapshot, now: int, store_name: str) -> str:
    """The text form of `stats`."""
    since = format_ms(snapshot.since_ms) if snapshot.since_ms is not None else "the beginning"
    until = format_ms(snapshot.until_ms) if snapshot.until_ms is not None else "now"
    lines = [f"store {store_name}, window {since} .. {until}", ""]
    if snapshot.overall.attempts == 0:
        lines.append("no attempts in this window")
        return "\n".join(lines)
    lines += _summary_lines(snapshot.overall, now)
    headers = [
        "endpoint",
        "attempts",
        "1st-try",
        "final",
        "undeliv.",
        "oldest",
        "p50",
        "p95",
        "p99",
        "top failures",
    ]
    rows = []
    for e in snapshot.endpoints:
        k = e.kpis
        failures = ", ".join(
            [f"{c.label} x{fmt.count(c.count)}" for c in e.top_status_codes]
            + [f"{c.label} x{fmt.count(c.count)}" for c in e.top_errors]
        )
        rows.append(
            [
                e.endpoint_id,
                fmt.count(k.attempts),
                fmt.pct(k.first_attempt_success_rate),
                fmt.pct(k.final_success_rate),
                fmt.count(k.undelivered),
                fmt.age(k.oldest_undelivered_ms, now),
                fmt.latency(k.latency.p50),
                fmt.latency(k.latency.p95),
                fmt.latency(k.latency.p99),
                failures or "-",
            ]
        )
    lines += ["", table(headers, rows, right=set(range(1, 9)))]
    return "\n".join(lines)
