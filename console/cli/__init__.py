"""The command line: thin click commands that parse options and call services or start the app."""

from __future__ import annotations

import os
import sys
from itertools import pairwise
from typing import Any

import click

from console import __version__
from console.cli.context import CommandError, store_options
from console.domain.urls import redact
from console.endpoints import EndpointsError
from console.ingest.sources import SourceError
from console.store import StoreError, normalise_url
from console.store.failures import describe_failure


class _Group(click.Group):
    """Turns the errors an operator can act on into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (StoreError, EndpointsError, SourceError) as exc:
            raise CommandError(str(exc)) from None
        except Exception as exc:
            app = ctx.obj
            message = describe_failure(exc, normalise_url(app.db_url)) if hasattr(app, "db_url") else None
            if message is None:
                raise
            raise CommandError(message) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@store_options
@click.version_option(__version__, prog_name="hookconsole")
def cli() -> None:
    """hookconsole: watch, inspect and replay webhook deliveries."""


def _register() -> None:
    from console.cli.endpoints import endpoints_group
    from console.cli.ingest import ingest_command
    from console.cli.prune import prune_command
    from console.cli.replay import replay_group
    from console.cli.report import export_command, report_command
    from console.cli.sample import sample_command
    from console.cli.sandbox import receiver_command, simulate_command
    from console.cli.stats import stats_command
    from console.cli.tui import demo_command, tui_command

    commands = (
        ingest_command,
        stats_command,
        tui_command,
        demo_command,
        replay_group,
        report_command,
        export_command,
        receiver_command,
        simulate_command,
        sample_command,
        endpoints_group,
        prune_command,
    )
    for command in commands:
        cli.add_command(command)


_register()


def main() -> None:
    """Entry point of the `hookconsole` command."""
    try:
        cli.main(prog_name="hookconsole")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("HOOKCONSOLE_DEBUG"):
            raise
        click.echo(
            f"hookconsole: unexpected error: {type(exc).__name__}: {_without_credentials(str(exc))}", err=True
        )
        sys.exit(1)


def _without_credentials(text: str) -> str:
    """`text` without the credentials of any store URL given on the command line or in HOOKCONSOLE_DB."""
    args = sys.argv[1:]
    urls = [os.environ.get("HOOKCONSOLE_DB", "")]
    urls += [value for option, value in pairwise(args) if option == "--db"]
    urls += [arg.split("=", 1)[1] for arg in args if arg.startswith("--db=")]
    for url in urls:
        text = redact(text, url)
    return text
