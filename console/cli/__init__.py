"""The command line: thin click commands that parse options and call services or start the app."""

from __future__ import annotations

import difflib
import importlib
import sys
from itertools import pairwise
from typing import Any

import click

from console import __version__
from console.cli.context import AppContext, CommandError, read_only_option, store_options
from console.domain.urls import redact

# name -> (module, attribute, one-line help). Commands are imported only when run, so `--help` and light
# commands do not pay for pandas, Plotly, Textual or httpx (a test keeps it so).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ingest": ("console.cli.ingest", "ingest_command", "Read delivery logs into the store."),
    "stats": ("console.cli.stats", "stats_command", "Attempts, deliveries, success rates and latency."),
    "tui": ("console.cli.tui", "tui_command", "Open the live console."),
    "demo": ("console.cli.tui", "demo_command", "Sample store, sandbox traffic and the console."),
    "replay": ("console.cli.replay", "replay_group", "Replay a selection of deliveries, signed; jobs."),
    "resolve": (
        "console.cli.resolve",
        "resolve_command",
        "Mark deliveries won't send (resolved), or reopen.",
    ),
    "report": ("console.cli.report", "report_command", "Write a self-contained HTML report."),
    "export": ("console.cli.report", "export_command", "Write the report and data as HTML, CSV, JSON."),
    "receiver": ("console.cli.sandbox", "receiver_command", "A verifying sandbox receiver."),
    "simulate": ("console.cli.sandbox", "simulate_command", "Sandbox traffic to loopback receivers."),
    "sample": ("console.cli.sample", "sample_command", "Generate a realistic sample delivery log."),
    "endpoints": ("console.cli.endpoints", "endpoints_group", "Check (or import) endpoint configuration."),
    "prune": ("console.cli.prune", "prune_command", "Remove old deliveries (retention)."),
    "watch": ("console.cli.watch", "watch_command", "Follow sources, alert on rules, serve metrics."),
    "alerts": ("console.cli.watch", "alerts_group", "Check an alerts.toml."),
    "whatif": ("console.cli.whatif", "whatif_command", "Test retry schedules against the recorded failures."),
}


_DEBUG = "hookconsole.debug"
_DEBUG_NOTE = "(hookconsole --traceback or HOOKCONSOLE_DEBUG: the error as raised)"


class _UsageError(click.UsageError):
    """A usage error shown as one line, as every other error is: what is wrong, and where help is."""

    def show(self, file: Any = None) -> None:
        where = self.ctx.command_path if self.ctx is not None else "hookconsole"
        click.echo(f"hookconsole: {self.format_message()} (see '{where} --help')", err=True)


def _one_line(exc: click.UsageError) -> _UsageError:
    one = _UsageError(" ".join(exc.format_message().split()), exc.ctx)
    return one


class _Group(click.Group):
    """Loads commands on demand and turns the errors an operator can act on into one line on stderr."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, COMMANDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _UsageError(f"no such command {name!r}{hint}", ctx)
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        from console.endpoints import EndpointsError
        from console.ingest.log_files import SourceError
        from console.store import StoreError, normalise_url
        from console.store.failures import describe_failure

        try:
            try:
                return super().invoke(ctx)
            finally:  # here, so that a failure to close is reported like any other
                if isinstance(ctx.obj, AppContext):
                    ctx.obj.close()
        except _UsageError:
            raise
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (StoreError, EndpointsError, SourceError) as exc:
            raise CommandError(str(exc)) from None
        except Exception as exc:
            url = ctx.obj.db_url if isinstance(ctx.obj, AppContext) else None
            message = describe_failure(exc, normalise_url(url)) if url else None
            if message is not None:
                raise CommandError(message) from None
            if ctx.meta.get(_DEBUG):
                exc.add_note(_DEBUG_NOTE)  # main() lets it through
                raise
            text = _without_credentials(str(exc), *([url] if url else []))
            raise CommandError(f"unexpected error: {type(exc).__name__}: {text}") from None


@click.group(
    "hookconsole",
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@store_options
@read_only_option
@click.option(
    "--traceback",
    is_flag=True,
    envvar="HOOKCONSOLE_DEBUG",
    show_envvar=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: ctx.meta.update({_DEBUG: bool(value)}),
    help="Let an unexpected error through with its traceback (instead of one line).",
)
@click.version_option(__version__, prog_name="hookconsole")
def cli() -> None:
    """hookconsole: watch, inspect and replay webhook deliveries."""


def main() -> None:
    """Entry point of the `hookconsole` command."""
    try:
        cli.main(prog_name="hookconsole")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # outside a command (a command's own are one line already, see _Group.invoke)
        if _DEBUG_NOTE in getattr(exc, "__notes__", ()):
            raise
        click.echo(
            f"hookconsole: unexpected error: {type(exc).__name__}: {_without_credentials(str(exc))}", err=True
        )
        sys.exit(1)


def _without_credentials(text: str, *known: str) -> str:
    """`text` without the credentials of any URL given on the command line (a store, a source, `--to`) or
    in `known` (the store URL the options resolved, HOOKCONSOLE_DB's included)."""
    args = sys.argv[1:]
    urls = list(known)
    urls += [value for option, value in pairwise(args) if option == "--db"]
    urls += [arg.split("=", 1)[1] for arg in args if arg.startswith(("--db=", "--to="))]
    urls += [arg for arg in args if "://" in arg]
    for url in urls:
        text = redact(text, url)
    return text
