"""`hookconsole whatif`: replay the recorded failure history against candidate retry schedules."""

from __future__ import annotations

from typing import Any

import click
import orjson

from console.cli.context import app_context, store_options
from console.cli.filters import _time
from console.cli.output import table
from console.domain.times import MS_PER_DAY, format_ms, now_ms
from console.domain.whatif import Schedule, WhatIfResult, parse_schedule, whatif_dict
from console.report.whatif_section import WHATIF_HEADERS, whatif_row


def schedules_option(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[Schedule, ...]:
    """Each DELAYS value parsed into a Schedule; a bad one is a usage error naming it."""
    schedules = []
    for value in values:
        try:
            schedules.append(parse_schedule(value))
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return tuple(schedules)


@click.command("whatif")
@store_options
@click.option(
    "--schedule",
    "schedules",
    multiple=True,
    required=True,
    callback=schedules_option,
    metavar="DELAYS",
    help="Retry delays after the first attempt, each from the previous one, e.g. 5s,5m,30m,2h,5h,10h,10h "
    "(repeatable: the schedules compare in one table).",
)
@click.option(
    "--since",
    callback=_time,
    default="7d",
    show_default=True,
    metavar="WHEN",
    help="Deliveries first tried from: 24h, 7d or RFC 3339.",
)
@click.option("--until", callback=_time, metavar="WHEN", help="... up to (exclusive) [default: now].")
@click.option(
    "--endpoint", "endpoint_ids", multiple=True, metavar="ID", help="Only this endpoint (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (stable keys).")
def whatif_command(
    schedules: tuple[Schedule, ...],
    since: int,
    until: int | None,
    endpoint_ids: tuple[str, ...],
    as_json: bool,
    **_: Any,
) -> None:
    """What candidate retry schedules would have done with the recorded failures (docs/whatif.md)."""
    from console.analytics.whatif import run_whatif  # numpy: loaded only when run

    until = until if until is not None else now_ms()
    if until <= since:
        raise click.BadParameter("--until must be later than --since", param_hint="--until")
    if until - since > 400 * MS_PER_DAY:
        raise click.BadParameter("a window of at most 400 days", param_hint="--since")
    result = run_whatif(app_context().store(), schedules, since, until, tuple(dict.fromkeys(endpoint_ids)))
    if as_json:
        click.echo(orjson.dumps(whatif_dict(result), option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(render_whatif(result))


def render_whatif(result: WhatIfResult) -> str:
    """The text form: one row per schedule and endpoint, then the totals."""
    lines = [f"deliveries first tried {format_ms(result.since_ms)} .. {format_ms(result.until_ms)}"]
    if not result.policies or result.policies[0].total.deliveries == 0:
        lines.append("no deliveries in this window")
        return "\n".join(lines)
    assert result.history_end_ms is not None
    headers = list(WHATIF_HEADERS)
    rows = [whatif_row(p.label, f) for p in result.policies for f in p.endpoints]
    rows += [whatif_row(p.label, p.total) for p in result.policies]
    lines += [
        "",
        table(headers, rows, right=set(range(2, len(headers)))),
        "",
        "observed: what the real schedule did (exhausted = still undelivered). Delays: first attempt to delivery, of",
        "the deliveries whose first attempt failed. Health per minute from the rollups; Retry-After is not stored,",
        f"so not modelled. Retries after the recorded history ({format_ms(result.history_end_ms)}) are pending.",
    ]
    return "\n".join(lines)
