"""`hookconsole prune`: retention for the delivery store."""

from __future__ import annotations

import sys

import click

from console.cli.context import app_context, fail, refuse_if_read_only, store_options
from console.cli.durations import AGE_MAX_MS, Duration
from console.domain import formatting as fmt
from console.domain.times import format_ms, now_ms
from console.store.prune import count_prunable, prune
from console.store.upkeep import sqlite_incremental


def _targets(count: int) -> str:
    """The attempts replays sent to other targets (`--to`), named only when there are some."""
    return f", {fmt.count(count)} attempts sent to other targets (--to)" if count else ""


@click.command("prune")
@store_options
@click.option(
    "--older-than",
    "older_than",
    required=True,
    type=Duration(AGE_MAX_MS),
    help="Remove deliveries whose last attempt is older than this (e.g. 90d).",
)
@click.option(
    "--rollups-older-than",
    "rollups_older_than",
    type=Duration(AGE_MAX_MS),
    help="Also remove rollups older than this [default: keep them].",
)
@click.option("--include-undelivered", is_flag=True, help="Remove old undelivered deliveries too.")
@click.option("--dry-run", is_flag=True, help="Count what would go and change nothing.")
@click.option("--yes", is_flag=True, help="Remove without asking.")
@click.option(
    "--vacuum",
    is_flag=True,
    help="Then rewrite the store to give all free space back (SQLite: a full VACUUM, needed once on a store "
    "whose file keeps its size after prune; PostgreSQL: VACUUM FULL, which locks the pruned tables while it runs).",
)
def prune_command(
    older_than: int,
    rollups_older_than: int | None,
    include_undelivered: bool,
    dry_run: bool,
    yes: bool,
    vacuum: bool,
) -> None:
    """Remove old deliveries with their attempts and events, in small batches; rollups stay by default."""
    refuse_if_read_only("prune")
    store = app_context().store()
    now = now_ms()
    cutoff = now - older_than
    plan = count_prunable(store, cutoff, include_undelivered)
    kept = "" if include_undelivered else " (undelivered ones are kept)"
    click.echo(
        f"{fmt.count(plan.deliveries)} deliveries with {fmt.count(plan.attempts)} attempts last tried before {format_ms(cutoff)}{kept}"
        + _targets(plan.target_attempts)
    )
    if dry_run:
        click.echo("dry run: nothing was removed")
        return
    if not yes:
        if not sys.stdin.isatty():
            fail("refusing to remove without --yes: there is no terminal to ask on")
        if not click.confirm("Remove them?", default=False, err=True):
            return
    rollup_cutoff = now - rollups_older_than if rollups_older_than is not None else None
    result = prune(
        store,
        cutoff,
        include_undelivered=include_undelivered,
        rollups_cutoff_ms=rollup_cutoff,
        full_vacuum=vacuum,
    )
    click.echo(
        f"removed {fmt.count(result.deliveries)} deliveries, {fmt.count(result.attempts)} attempts, {fmt.count(result.events)} events"
        + _targets(result.target_attempts)
        + (
            f", {fmt.count(result.rollup_rows)} rollup rows"
            if rollup_cutoff is not None
            else ", rollups kept"
        )
        + f" in {result.batches} batch(es)"
        + (", store vacuumed" if vacuum else "")
    )
    if not vacuum and store.dialect.name == "sqlite" and not sqlite_incremental(store):
        click.echo(
            "note: this store was created without incremental vacuum, so its file keeps its size; "
            "run prune once with --vacuum to give the free space back (and from then on after every prune)"
        )
