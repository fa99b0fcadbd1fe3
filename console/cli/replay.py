"""`hookconsole replay`: plan, confirm and send a selection, signed; and list, show, resume, cancel jobs."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import click
import orjson
from click.core import ParameterSource

from console import aio
from console.cli.context import app_context, fail, refuse_if_read_only, store_options
from console.cli.filters import build_filter, filter_options, warn_about_filter
from console.cli.output import table
from console.domain import formatting as fmt
from console.domain.filters import DeliveryState
from console.domain.replay import FailureReason, ItemState, JobOptions, JobView, ReplayPlan, ReplaySelection
from console.domain.times import format_ms, now_ms
from console.domain.urls import mask_url
from console.replay import impact_view
from console.replay.handle import JobHandle
from console.replay.plan import ReplayError, describe_selection, read_event_ids
from console.replay.runner import RunProgress
from console.replay.service import ReplayService
from console.replay.targets import job_origin, target_problem

SHOWN_ITEMS = 10
SHOWN_REASONS = 5
WIDENED = "named events and --force select deliveries whatever their state (no --status given)"


def _service(*, sending: bool = True) -> ReplayService:
    """The replay service; endpoints.toml is read only by the commands that send (list and show only read)."""
    app = app_context()
    return ReplayService(app.store(), app.endpoints() if sending else None)


def _check_target(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--to URL`: an http(s) URL replays may go to, without credentials (a usage error otherwise)."""
    problem = target_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return value


@click.group("replay", invoke_without_command=True)
@store_options
@filter_options(status_default="undelivered")
@click.option("--event-id", "event_ids", multiple=True, metavar="ID", help="Only this event (repeatable).")
@click.option(
    "--event-ids-from", type=click.Path(dir_okay=False, path_type=Path), help="Event ids, one per line."
)
@click.option("--limit", type=click.IntRange(1), help="At most N deliveries (oldest first).")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Requests in flight across endpoints.",
)
@click.option("--force", is_flag=True, help="Send deliveries that were already delivered too.")
@click.option(
    "--max-tries", type=click.IntRange(1, 100), help="Tries per delivery [default: the endpoint's max_tries]."
)
@click.option(
    "--skip-superseded",
    is_flag=True,
    help="Leave out events a newer event of the same reward (or user) already delivered supersedes.",
)
@click.option(
    "--ordered",
    is_flag=True,
    help="Send one reward's (or user's) events in their original order, one at a time.",
)
@click.option(
    "--include-resolved",
    is_flag=True,
    help="Send resolved (won't send) deliveries too; left out otherwise (see hookconsole resolve).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--yes", is_flag=True, help="Send without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan or the result as JSON.")
@click.option(
    "--operator", metavar="NAME", help="Who replays, recorded with the job [default: OS user@host]."
)
@click.option("--reason", metavar="TEXT", help="Why, recorded with the job (required with --force).")
@click.option(
    "--to",
    "to_url",
    metavar="URL",
    callback=_check_target,
    help="Send to this URL instead (staging, a local receiver); the endpoints' records are not changed.",
)
@click.option(
    "--to-secret",
    metavar="env:NAME|file:PATH",
    help="With --to: sign with this secret [default: each endpoint's own].",
)
@click.pass_context
def replay_group(
    ctx: click.Context,
    /,
    event_ids: tuple[str, ...],
    event_ids_from: Path | None,
    limit: int | None,
    concurrency: int,
    force: bool,
    max_tries: int | None,
    skip_superseded: bool,
    ordered: bool,
    include_resolved: bool,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    operator: str | None,
    reason: str | None,
    to_url: str | None,
    to_secret: str | None,
    **options: Any,
) -> None:
    """Replay a selection of deliveries to their endpoints, signed (default: every undelivered one).

    Subcommands: list, show JOB, resume JOB, cancel JOB.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not dry_run:
        refuse_if_read_only("replay (sending)")
    try:
        origin = job_origin(operator, reason, force and not dry_run, to_url, to_secret)
        ids = event_ids + (read_event_ids(event_ids_from) if event_ids_from else ())
        widened = bool(ids or force) and ctx.get_parameter_source("state") is ParameterSource.DEFAULT
        if widened:  # the default (undelivered) would silently drop a named or forced delivered event
            options["state"] = DeliveryState.ANY.value
        flt = build_filter(**options).with_(
            event_ids=tuple(dict.fromkeys(ids)), include_resolved=include_resolved
        )
        service = _service()
        plan = service.plan(
            ReplaySelection(
                flt,
                limit=limit,
                force=force,
                concurrency=concurrency,
                skip_superseded=skip_superseded,
                ordered=ordered,
            )
        )
        warn_about_filter(app_context().store(), flt)
        if to_url and plan.items and not as_json:
            click.echo(
                f"target: {mask_url(to_url)} instead of the endpoints' URLs (their records stay unchanged)"
            )
        if dry_run or not plan.items:
            _print_plan(plan, as_json, dry_run, widened)
            return
        if not as_json:
            _print_plan(plan, False, False, widened)
        where = f" (to {mask_url(to_url)} instead)" if to_url else ""
        if plan.to_send and not _confirmed(
            yes,
            f"Send {fmt.counted(plan.to_send, 'delivery')} to {fmt.counted(len([e for e in plan.endpoints if e.to_send]), 'endpoint')}{where}?",
        ):
            return
        job_id = service.create_job(plan, origin)
        view = _run(service, job_id, concurrency, as_json, max_tries, planned=plan.total)
    except ReplayError as exc:
        fail(str(exc))
    _finish(service, view, as_json)


def _confirmed(yes: bool, question: str) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        fail("refusing to send without --yes: there is no terminal to ask on")
    return click.confirm(question, default=False, err=True)


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _print_plan(plan: ReplayPlan, as_json: bool, dry_run: bool, widened: bool = False) -> None:
    selection = describe_selection(plan.selection)
    if as_json:
        data = {
            "dry_run": dry_run,
            "selection": selection,
            "state": plan.selection.filter.state.value,
            "note": WIDENED if widened else None,
            "to_send": plan.to_send,
            "skipped": plan.skipped,
            "endpoints": [
                {
                    "id": e.endpoint_id,
                    "url": mask_url(e.url),
                    "to_send": e.to_send,
                    "skipped": e.skipped,
                    "drain": impact_view.drain_json(e.drain),
                }
                for e in plan.endpoints
            ],
            "impact": impact_view.impact_json(plan.impact),
            "drain_seconds": _rounded(impact_view.plan_drain_seconds(plan)),
            "items": [
                {
                    "event_id": i.event_id,
                    "endpoint_id": i.endpoint_id,
                    "event_type": i.event_type,
                    "first_attempt_at": format_ms(i.first_attempt_at_ms),
                    "last_status_code": i.last_status_code,
                    "skip_reason": i.skip_reason,
                    "superseded_by": i.superseded_by,
                }
                for i in plan.items[: SHOWN_ITEMS * 10]
            ],
        }
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    if not plan.items:
        click.echo(f"nothing matches the selection ({plan.selection.filter.describe()}); nothing to replay")
        return
    click.echo(
        f"replay plan: {fmt.count(plan.to_send)} to send, {fmt.count(plan.skipped)} skipped, {fmt.counted(len(plan.endpoints), 'endpoint')}"
    )
    click.echo(f"selection: {selection}")
    if widened:
        click.echo(f"note: {WIDENED}")
    rows = [
        [e.endpoint_id, fmt.count(e.to_send), fmt.count(e.skipped), mask_url(e.url)] for e in plan.endpoints
    ]
    click.echo(table(["endpoint", "to send", "skipped", "url"], rows, right={1, 2}))
    for line in impact_view.impact_lines(plan):
        click.echo(line)
    click.echo("first events:")
    for item in plan.items[:SHOWN_ITEMS]:
        status = item.skip_reason or f"last status {item.last_status_code or '-'}"
        click.echo(
            f"  {item.event_id}  {item.endpoint_id}  {item.event_type}  {format_ms(item.first_attempt_at_ms)}  {status}"
        )
    if plan.total > SHOWN_ITEMS:
        click.echo(f"  ... and {fmt.count(plan.total - SHOWN_ITEMS)} more")
    if dry_run:
        click.echo("dry run: nothing was written or sent")


def _progress_line(progress: RunProgress, total: int) -> None:
    parts = [
        f"{e} {c.delivered}/{c.failed}" + (" (paused)" if c.breaker else "")
        for e, c in sorted(progress.endpoints.items())
    ]
    delivered = sum(c.delivered for c in progress.endpoints.values())
    failed = sum(c.failed for c in progress.endpoints.values())
    click.echo(
        f"\rreplay {progress.job_id}: {fmt.count(progress.done)}/{fmt.count(total)} done, {fmt.count(delivered)} delivered, {fmt.count(failed)} failed  "
        f"[{'  '.join(parts)}]   ",
        err=True,
        nl=False,
    )


def _run(
    service: ReplayService,
    job_id: str,
    concurrency: int | None,
    as_json: bool,
    max_tries: int | None = None,
    planned: int | None = None,
) -> JobView:
    total = service.job(job_id).total
    show = sys.stderr.isatty() and not as_json
    if planned is not None and total != planned:  # deliveries arrived or were delivered since the plan
        click.echo(
            f"note: the selection changed since it was planned: the job has {fmt.count(total)} deliveries "
            f"(the plan had {fmt.count(planned)})",
            err=True,
        )
    if not as_json:
        click.echo(
            f"replay job {job_id}: sending (Ctrl-C stops after the requests in flight, twice at once; "
            f"`hookconsole replay resume {job_id}` carries on)",
            err=True,
        )
    policy: dict[str, Any] = {"max_tries": max_tries} if max_tries else {}
    on_progress = (lambda p: _progress_line(p, total)) if show else None
    job = service.start(job_id, concurrency=concurrency, on_progress=on_progress, **policy)
    view = aio.run(_stopped_by_signals(job))
    if show:
        click.echo("", err=True)
    return view


async def _stopped_by_signals(job: JobHandle) -> JobView:
    """Run the job; Ctrl-C (SIGINT) or SIGTERM stops it once the requests in flight have ended (and records
    them), a second abandons them."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        job.stop()
        if job.abandoning:
            click.echo("\nabandoning the requests in flight", err=True)
        else:
            click.echo(
                f"\nstopping: waiting for {job.in_flight} request(s) in flight (Ctrl-C again abandons them)",
                err=True,
            )

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    return await job.run()


def _finish(service: ReplayService, view: JobView, as_json: bool) -> None:
    reasons = service.failure_reasons(view.id, SHOWN_REASONS)
    if as_json:
        click.echo(orjson.dumps(_job_json(view, reasons), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(_job_text(view, reasons))
    if not view.succeeded:
        sys.exit(1 if view.state.value != "interrupted" else 130)


def _job_json(view: JobView, reasons: list[FailureReason]) -> dict[str, Any]:
    return {
        "id": view.id,
        "state": view.state.value,
        "created_at": format_ms(view.created_at_ms),
        "started_at": format_ms(view.started_at_ms) or None,
        "finished_at": format_ms(view.finished_at_ms) or None,
        "selection": view.selection,
        "force": view.force,
        "operator": view.operator,
        "reason": view.reason,
        "target_url": mask_url(view.target_url) if view.target_url else None,
        "target_secret": view.target_secret,
        "total": view.total,
        "counts": {s.value: view.count(s) for s in ItemState},
        "endpoints": [
            {"id": e.endpoint_id, "counts": {s.value: e.count(s) for s in ItemState}} for e in view.endpoints
        ],
        "note": view.note,
        "reasons": [{"reason": r.reason, "items": r.items} for r in reasons],
        "options": _options_json(view.options),
    }


def _options_json(options: JobOptions | None) -> dict[str, Any] | None:
    """The job's options as data (None: a job stored before options were)."""
    if options is None:
        return None
    return {
        "ordered": options.ordered,
        "skip_superseded": options.skip_superseded,
        "force": options.force,
        "concurrency": options.concurrency,
        "limit": options.limit,
        "where": options.where,
        "to": mask_url(options.to) if options.to else None,
    }


def _job_text(view: JobView, reasons: list[FailureReason]) -> str:
    lines = [
        f"job {view.id}: {view.state.value}: {fmt.count(view.count(ItemState.DELIVERED))} delivered, "
        f"{fmt.count(view.count(ItemState.FAILED))} failed, {fmt.count(view.count(ItemState.SKIPPED))} skipped"
        + (f", {fmt.count(view.count(ItemState.PENDING))} pending" if view.count(ItemState.PENDING) else "")
        + (
            f", {fmt.count(view.count(ItemState.CANCELLED))} cancelled"
            if view.count(ItemState.CANCELLED)
            else ""
        ),
    ]
    rows = [
        [
            e.endpoint_id,
            *(
                fmt.count(e.count(s))
                for s in (ItemState.DELIVERED, ItemState.FAILED, ItemState.SKIPPED, ItemState.PENDING)
            ),
        ]
        for e in view.endpoints
    ]
    lines.append(table(["endpoint", "delivered", "failed", "skipped", "pending"], rows))
    lines.append(
        f"by {view.operator or 'unknown'}" + (f": {view.reason}" if view.reason else " (no reason given)")
    )
    if view.target_url:
        lines.append(
            f"sent to {mask_url(view.target_url)} instead of the endpoints' URLs (their records unchanged)"
        )
    if view.note:
        lines.append(f"note: {view.note}")
    if reasons:
        lines.append("most common reasons for failing:")
        lines += [f"  {fmt.count(r.items):>6}  {r.reason}" for r in reasons]
    return "\n".join(lines)


@replay_group.command("list")
@store_options
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_command(limit: int, as_json: bool) -> None:
    """Replay jobs, newest first."""
    service = _service(sending=False)
    jobs = service.jobs(limit)
    if as_json:
        # Only jobs with failed items have failure reasons: no query for the others.
        data = [
            _job_json(j, service.failure_reasons(j.id, SHOWN_REASONS) if j.count(ItemState.FAILED) else [])
            for j in jobs
        ]
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    if not jobs:
        click.echo("no replay jobs yet")
        return
    rows = [
        [
            j.id,
            j.state.value,
            format_ms(j.created_at_ms)[:19],
            fmt.count(j.total),
            *(
                fmt.count(j.count(s))
                for s in (ItemState.DELIVERED, ItemState.FAILED, ItemState.SKIPPED, ItemState.PENDING)
            ),
            j.operator or "-",
            _why(j),
            j.selection,
        ]
        for j in jobs
    ]
    click.echo(
        table(
            [
                "job",
                "state",
                "created",
                "total",
                "delivered",
                "failed",
                "skipped",
                "pending",
                "operator",
                "reason",
                "selection",
            ],
            rows,
            right={3, 4, 5, 6, 7},
        )
    )


def _why(job: JobView) -> str:
    """The reason, and the other target when there was one, for a table cell."""
    reason = (job.reason or "-")[:40]
    return f"{reason} (to {mask_url(job.target_url)})" if job.target_url else reason


@replay_group.command("show")
@store_options
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True)
def show_command(job_id: str, as_json: bool) -> None:
    """One job: its selection, state, counts per endpoint, why items failed, and the items not delivered."""
    service = _service(sending=False)
    try:
        view = service.job(job_id)
    except ReplayError as exc:
        fail(str(exc))
    reasons = service.failure_reasons(job_id, SHOWN_REASONS)
    troubled = service.items(job_id, SHOWN_ITEMS * 2, troubled_only=True)
    if as_json:
        data = _job_json(view, reasons)
        data["items_not_delivered"] = [
            {
                "event_id": i.event_id,
                "endpoint_id": i.endpoint_id,
                "state": i.state.value,
                "tries": i.attempts,
                "last_status_code": i.last_status_code,
                "last_error": i.reason,
            }
            for i in troubled
        ]
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(
        f"selection: {view.selection}\ncreated {format_ms(view.created_at_ms)}, concurrency {view.concurrency}"
    )
    click.echo(_job_text(view, reasons))
    if troubled:
        click.echo("items not delivered:")
        rows = [
            [
                i.event_id,
                i.endpoint_id,
                i.state.value,
                str(i.attempts),
                str(i.last_status_code or "-"),
                (i.reason or "")[:100],
            ]
            for i in troubled
        ]
        click.echo(table(["event", "endpoint", "state", "tries", "last", "last error"], rows, right={3}))


@replay_group.command("resume")
@store_options
@click.argument("job_id")
@click.option("--concurrency", type=click.IntRange(1, 1000), help="Override the job's concurrency.")
@click.option(
    "--max-tries", type=click.IntRange(1, 100), help="Tries per delivery [default: the endpoint's max_tries]."
)
@click.option("--yes", is_flag=True, help="Send without asking.")
@click.option("--json", "as_json", is_flag=True)
def resume_command(
    job_id: str, concurrency: int | None, max_tries: int | None, yes: bool, as_json: bool
) -> None:
    """Carry on with a stopped or killed job (items in flight at the kill are sent again)."""
    refuse_if_read_only("replay resume")
    service = _service()
    try:
        view, returned = service.prepare_resume(job_id)
        pending = view.count(ItemState.PENDING)
        click.echo(
            f"job {job_id}: {fmt.count(pending)} pending ({returned} were in flight when it stopped)",
            err=True,
        )
        if not _confirmed(yes, f"Send {fmt.counted(pending, 'delivery')}?"):
            return
        view = _run(service, job_id, concurrency, as_json, max_tries)
    except ReplayError as exc:
        fail(str(exc))
    _finish(service, view, as_json)


@replay_group.command("cancel")
@store_options
@click.argument("job_id")
def cancel_command(job_id: str) -> None:
    """Cancel a job: its pending items are not sent."""
    refuse_if_read_only("replay cancel")
    try:
        view = _service(sending=False).cancel(job_id)
    except ReplayError as exc:
        fail(str(exc))
    click.echo(
        f"job {view.id} cancelled ({fmt.count(view.count(ItemState.CANCELLED))} items not sent); at {format_ms(now_ms())}"
    )
