"""`hookconsole resolve`: mark deliveries "won't send" (resolved) with a reason, or reopen them (docs/resolve.md).

Resolved deliveries leave the backlog, its oldest age, alerts, gaps, top failing and replay's selection; they
are counted apart (`stats`: resolved). A delivery delivered later is delivered whatever its resolution says."""

from __future__ import annotations

import sys
from typing import Any

import click

from console.cli.context import app_context, fail, refuse_if_read_only, store_options
from console.cli.filters import build_filter, filter_options, warn_about_filter
from console.domain import formatting as fmt
from console.domain.resolutions import ResolutionAction, ResolveOutcome
from console.domain.times import now_ms
from console.replay.targets import default_operator
from console.store.engine import StoreError
from console.store.resolutions import change

MAX_REASON = 500


@click.command("resolve")
@store_options
@filter_options(status=False)
@click.option("--event-id", "event_ids", multiple=True, metavar="ID", help="Only this event (repeatable).")
@click.option("--reason", metavar="TEXT", help="Why they will not be sent (required), e.g. 'superseded'.")
@click.option("--operator", metavar="NAME", help="Who decides, recorded [default: OS user@host].")
@click.option("--reopen", is_flag=True, help="Reopen resolved deliveries instead: undelivered again.")
@click.option("--dry-run", is_flag=True, help="Count what would change and change nothing.")
@click.option("--yes", is_flag=True, help="Change without asking.")
def resolve_command(
    event_ids: tuple[str, ...],
    reason: str | None,
    operator: str | None,
    reopen: bool,
    dry_run: bool,
    yes: bool,
    **options: Any,
) -> None:
    """Resolve the matching undelivered deliveries ("won't send"), or --reopen resolved ones."""
    reason = (reason or "").strip()
    if not reason:
        raise click.UsageError("--reason TEXT is required (why they will not be sent, or why reopened)")
    if len(reason) > MAX_REASON:
        raise click.BadParameter(f"at most {MAX_REASON} characters", param_hint="--reason")
    action = ResolutionAction.REOPEN if reopen else ResolutionAction.RESOLVE
    if not dry_run:
        refuse_if_read_only(f"{action.value} (changing deliveries)")
    flt = build_filter(**options).with_(event_ids=tuple(dict.fromkeys(event_ids)))
    store = app_context().store()
    who = (operator or "").strip() or default_operator()
    try:
        found = change(store, flt, action, reason=reason, operator=who, now_ms=now_ms(), dry_run=True)
        warn_about_filter(store, flt)
        if dry_run or not found.total:
            click.echo(_line(found, flt.describe()))
            return
        click.echo(_line(found, flt.describe()))
        verb = "Resolve" if action is ResolutionAction.RESOLVE else "Reopen"
        if not _confirmed(yes, f"{verb} {fmt.counted(found.total, 'delivery')}?"):
            return
        done = change(store, flt, action, reason=reason, operator=who, now_ms=now_ms())
    except StoreError as exc:
        fail(str(exc))
    click.echo(_line(done, flt.describe()))


def _line(outcome: ResolveOutcome, selection: str) -> str:
    which = "undelivered" if outcome.action is ResolutionAction.RESOLVE else "resolved"
    if not outcome.total:
        return f"no {which} delivery matches ({selection}); nothing to {outcome.action.value}"
    done = {"resolve": "resolved", "reopen": "reopened"}[outcome.action.value]
    head = f"would {outcome.action.value}" if outcome.dry_run else done
    per = ", ".join(f"{e} {fmt.count(n)}" for e, n in outcome.per_endpoint.items())
    tail = "; dry run: nothing was changed" if outcome.dry_run else ""
    return f"{head} {fmt.counted(outcome.total, 'delivery')} ({per}){tail}"


def _confirmed(yes: bool, question: str) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        fail("refusing to change deliveries without --yes: there is no terminal to ask on")
    return click.confirm(question, default=False, err=True)
