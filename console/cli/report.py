"""`hookconsole report` and `hookconsole export`: the HTML report, and files for cron and CI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from console.cli.context import app_context, fail, store_options
from console.cli.filters import build_filter, filter_options, warn_about_filter
from console.cli.numbers import FiniteRange
from console.cli.paths import refuse_overwrite
from console.cli.whatif import schedules_option
from console.domain import formatting as fmt
from console.domain.times import now_ms
from console.domain.whatif import Schedule
from console.report.service import FORMATS, ReportOptions, export, export_files, write_report


def _report_options(func: Any) -> Any:
    func = click.option(
        "--slo",
        type=FiniteRange(0.0, 1.0),
        default=0.99,
        show_default=True,
        help="Success-rate objective; stretches below it are incidents.",
    )(func)
    func = click.option(
        "--title", default="Webhook deliveries report", show_default=True, help="Report title."
    )(func)
    func = click.option(
        "--whatif-schedule",
        "whatif_schedules",
        multiple=True,
        callback=schedules_option,
        metavar="DELAYS",
        help="Add the what-if comparison of this retry schedule, e.g. 5s,5m,30m,2h (repeatable; as "
        "`whatif --schedule`, over the report's window and endpoints).",
    )(func)
    func = click.option(
        "--plotlyjs",
        type=click.Choice(["inline", "cdn"]),
        default="inline",
        show_default=True,
        help="Embed plotly.js (works offline) or load it from the CDN (small file).",
    )(func)
    return func


@click.command("report")
@store_options
@filter_options(status=False)
@_report_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file [default: reports/report-<window>.html].",
)
def report_command(
    slo: float,
    title: str,
    plotlyjs: str,
    whatif_schedules: tuple[Schedule, ...],
    out: Path | None,
    **filters: Any,
) -> None:
    """Write a self-contained HTML report with Plotly charts for a window."""
    app = app_context()
    refuse_overwrite("--out", [out] if out else [], db=app.db_url)
    try:
        path, data = write_report(
            app.store(),
            build_filter(**filters),
            out,
            now_ms(),
            ReportOptions(title, slo, plotlyjs, whatif_schedules),
        )
    except OSError as exc:
        fail(f"cannot write the report: {exc}")
    warn_about_filter(app.store(), data.filter)
    note = (
        "empty window"
        if data.empty
        else f"{fmt.count(data.stats.overall.attempts)} attempts, {len(data.incidents)} incident(s)"
    )
    click.echo(f"wrote {path} ({note})")


def _formats(_ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise click.BadParameter(
            f"choose from {', '.join(FORMATS)} (comma-separated), got {value!r}", param=param
        )
    return chosen


@click.command("export")
@store_options
@click.option(
    "--format",
    "formats",
    default="html,csv,json",
    show_default=True,
    callback=_formats,
    help="Comma-separated: html, csv, json.",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@filter_options(status=False)
@_report_options
@click.option("--quiet", is_flag=True, help="Print nothing on success.")
def export_command(
    formats: tuple[str, ...],
    out: Path,
    slo: float,
    title: str,
    plotlyjs: str,
    whatif_schedules: tuple[Schedule, ...],
    quiet: bool,
    **filters: Any,
) -> None:
    """Write the report and the filtered attempts, deliveries and incidents (CSV, JSON) for cron and CI."""
    app = app_context()
    refuse_overwrite("--out", [out, *export_files(out, formats)], db=app.db_url)
    flt = build_filter(**filters)
    try:
        result = export(
            app.store(),
            flt,
            out,
            formats,
            now_ms(),
            ReportOptions(title, slo, plotlyjs, whatif_schedules),
        )
    except OSError as exc:
        fail(f"export to {out} failed (no partial file was left): {exc}")
    warn_about_filter(app.store(), flt)
    if not quiet:
        for path, rows in result.files:
            click.echo(f"wrote {path}" + (f" ({fmt.count(rows)} rows)" if path.suffix != ".html" else ""))
