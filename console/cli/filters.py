"""The filter options every command shares: the same filters everywhere (stats, report, export, replay)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.times import now_ms, parse_time_spec
from console.domain.where import Where, WhereError

if TYPE_CHECKING:
    from console.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def _time(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_time_spec(value, ctx.meta.setdefault("hookconsole.now", now_ms()))
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _where(ctx: click.Context, param: click.Parameter, value: str | None) -> Where | None:
    """The expression parsed here, once: the filter carries its tree down to the SQL."""
    if value is None:
        return None
    try:
        return Where.parse(value)
    except WhereError as exc:
        raise click.BadParameter(f"{exc} in {value!r}", ctx=ctx, param=param) from None


WHERE_HELP = (
    "Only events whose payload matches, e.g. 'amount >= 1000 and currency = \"EUR\"' or "
    '\'user_id in ("u1","u2")\' (see docs/replay.md, Find by content).'
)


def filter_options(*, status: bool = True, status_default: str = "any") -> Callable[[F], F]:
    """--since/--until/--endpoint/--event-type/--status-code/--where, and --status when `status` is set."""

    def decorate(func: F) -> F:
        options = [
            click.option(
                "--since",
                callback=_time,
                metavar="WHEN",
                help="Start: 24h, 7d or RFC 3339 [default: all time].",
            ),
            click.option(
                "--until",
                callback=_time,
                metavar="WHEN",
                help="End (exclusive): 1h, or RFC 3339 [default: now].",
            ),
            click.option(
                "--endpoint",
                "endpoint_ids",
                multiple=True,
                metavar="ID",
                help="Only this endpoint (repeatable).",
            ),
            click.option(
                "--event-type",
                "event_types",
                multiple=True,
                metavar="TYPE",
                help="Only this event type (repeatable).",
            ),
            click.option(
                "--status-code",
                "status_codes",
                multiple=True,
                type=click.IntRange(100, 599),
                metavar="N",
                help="Only deliveries whose last status code is N (repeatable).",
            ),
            click.option(
                "--source",
                "sources",
                multiple=True,
                metavar="LABEL",
                help="Only the endpoints of this dispatcher tenant, e.g. svix:app_... (repeatable; stats --json lists them).",
            ),
            click.option("--where", callback=_where, metavar="EXPR", help=WHERE_HELP),
        ]
        if status:
            options.append(
                click.option(
                    "--status",
                    "state",
                    type=click.Choice([s.value for s in DeliveryState]),
                    default=status_default,
                    show_default=True,
                    help="undelivered: no success yet, not resolved; resolved: left out on purpose; failed: met a failed attempt; delivered; any.",
                )
            )
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def build_filter(
    since: int | None = None,
    until: int | None = None,
    endpoint_ids: tuple[str, ...] = (),
    event_types: tuple[str, ...] = (),
    status_codes: tuple[int, ...] = (),
    state: str = "any",
    sources: tuple[str, ...] = (),
    **extra: Any,
) -> DeliveryFilter:
    """A DeliveryFilter from the parsed options (`--source` read into the endpoints it names)."""
    if since is not None and until is not None and until <= since:
        raise click.BadParameter("--until must be later than --since", param_hint="--until")
    endpoint_ids = tuple(dict.fromkeys(endpoint_ids))
    sources = tuple(dict.fromkeys(sources))
    if sources:
        endpoint_ids = _source_endpoints(sources, endpoint_ids)
    return DeliveryFilter(
        since_ms=since,
        until_ms=until,
        endpoint_ids=endpoint_ids,
        sources=sources,
        event_types=tuple(dict.fromkeys(event_types)),
        status_codes=tuple(dict.fromkeys(status_codes)),
        state=DeliveryState(state),
        **extra,
    )


def _source_endpoints(sources: tuple[str, ...], endpoint_ids: tuple[str, ...]) -> tuple[str, ...]:
    """The endpoints of `sources` (and of `--endpoint`, when given too); a usage error when none is left."""
    from console.cli.context import app_context
    from console.store.live import endpoint_sources

    stored = endpoint_sources(app_context().store())
    unknown = [s for s in sources if s not in stored]
    if unknown:
        listed = ", ".join(list(stored)[:10]) + (", ..." if len(stored) > 10 else "")
        raise click.BadParameter(
            f"{unknown[0]!r}: no stored endpoint belongs to it (stored sources: {listed or 'none'})",
            param_hint="--source",
        )
    chosen = tuple(e for s in sources for e in stored[s])
    if endpoint_ids:
        of_sources = set(chosen)
        chosen = tuple(e for e in endpoint_ids if e in of_sources)
        if not chosen:
            raise click.BadParameter(
                "no --endpoint given belongs to the --source given", param_hint="--source"
            )
    return chosen


def warn_about_filter(store: Store, flt: DeliveryFilter) -> None:
    """Warnings on stderr: each --endpoint the store has never seen (a typo shows as an empty window), and the
    deliveries `--where` skipped because their payload is not JSON."""
    from console.domain import formatting as fmt
    from console.store.deliveries import skipped_by_where
    from console.store.live import known_endpoints

    skipped = skipped_by_where(store, flt)
    if skipped:
        click.echo(
            f"hookconsole: note: --where skipped {fmt.count(skipped)} deliveries whose payload is not JSON",
            err=True,
        )
    if not flt.endpoint_ids:
        return
    known = known_endpoints(store)
    for endpoint_id in flt.endpoint_ids:
        if endpoint_id not in known:
            listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
            click.echo(
                f"hookconsole: warning: --endpoint {endpoint_id!r}: no such endpoint is stored (stored: {listed or 'none'})",
                err=True,
            )
