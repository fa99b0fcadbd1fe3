"""What every command shares: settings, the store (opened lazily, closed at exit) and clean failures.

The global options read their environment variables through click (`envvar=`): HOOKCONSOLE_DB,
HOOKCONSOLE_ENDPOINTS, HOOKCONSOLE_READ_ONLY. `--db` and `--endpoints` are taken before or after the command
name; one given on the command line wins over the environment wherever it stands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

from console.settings import DEFAULT_DB

if TYPE_CHECKING:
    from console.endpoints import EndpointsFile
    from console.store import Store

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_ENDPOINTS = Path("endpoints.toml")


@dataclass(frozen=True)
class Settings:
    """Where the store and the endpoint configuration live, as the options (or their variables) said."""

    db: str = DEFAULT_DB
    """Delivery store URL (sqlite:/// or postgresql+psycopg://) or a SQLite file path."""
    endpoints: Path = DEFAULT_ENDPOINTS
    """The endpoints configuration file."""
    read_only: bool = False
    """Look, never send or change: refuse replay, resume, cancel, prune and ingest."""


# Commands that only read the store: they open it read-only and never create or upgrade it.
READING_COMMANDS = frozenset({"stats", "report", "export", "replay list", "replay show"})


class CommandError(click.ClickException):
    """A failure the operator can act on: printed as one line on stderr, exit code 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"hookconsole: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise CommandError(message)


def refuse_if_read_only(action: str) -> None:
    """Stop here, with one line, when the console runs read-only (`--read-only`, HOOKCONSOLE_READ_ONLY=1)."""
    if app_context().settings.read_only:
        fail(f"read-only mode (--read-only or HOOKCONSOLE_READ_ONLY): {action} is refused")


def read_only_option(func: F) -> F:
    """`--read-only`, the global option (before the command name)."""
    return click.option(
        "--read-only",
        is_flag=True,
        envvar="HOOKCONSOLE_READ_ONLY",
        show_envvar=True,
        expose_value=False,
        is_eager=True,
        callback=_set_read_only,
        help="Look, never send or change: refuse replay, resume, cancel, prune and ingest (the variable: 1 or 0).",
    )(func)


@dataclass
class AppContext:
    """Per-invocation state, in click's `ctx.obj`."""

    settings: Settings
    _store: Store | None = field(default=None, repr=False)

    @property
    def db_url(self) -> str:
        return self.settings.db

    @property
    def endpoints_path(self) -> Path:
        return self.settings.endpoints

    def store(self) -> Store:
        """The store, opened on first use: read-only for the READING_COMMANDS, created or upgraded otherwise."""
        if self._store is None:
            from console.store import open_store

            self._store = open_store(self.settings.db, read_only=_current_command() in READING_COMMANDS)
        return self._store

    def endpoints(self) -> EndpointsFile:
        from console.endpoints import EndpointsError, load_endpoints

        try:
            return load_endpoints(self.settings.endpoints)
        except EndpointsError as exc:
            fail(str(exc))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def _current_command() -> str:
    """The running command's path without the program name, e.g. "replay list"."""
    ctx = click.get_current_context(silent=True)
    return "" if ctx is None else ctx.command_path.partition(" ")[2]


def _keep(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """A callback keeping an option's value in the invocation's meta (shared by the group and its command):
    a value from the command line replaces one from the environment, never the other way round."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None or value is False:
            return
        if key not in ctx.meta or ctx.get_parameter_source(param.name or "") is ParameterSource.COMMANDLINE:
            ctx.meta[key] = value

    return callback


_set_db = _keep("hookconsole.db")
_set_endpoints = _keep("hookconsole.endpoints")
_set_read_only = _keep("hookconsole.read_only")


def store_options(func: F) -> F:
    """`--db` and `--endpoints`, accepted before or after the command name."""
    func = click.option(
        "--endpoints",
        "endpoints_file",
        metavar="FILE",
        envvar="HOOKCONSOLE_ENDPOINTS",
        show_envvar=True,
        expose_value=False,
        is_eager=True,
        callback=_set_endpoints,
        help="endpoints.toml to use [default: ./endpoints.toml].",
    )(func)
    func = click.option(
        "--db",
        metavar="URL",
        envvar="HOOKCONSOLE_DB",
        show_envvar=True,
        expose_value=False,
        is_eager=True,
        callback=_set_db,
        help="Store URL or SQLite file [default: ./hookconsole.db].",
    )(func)
    return func


def app_context() -> AppContext:
    """The AppContext for this invocation, with `--db`/`--endpoints` applied wherever they were given."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext(Settings())
        root.call_on_close(root.obj.close)
    app: AppContext = root.obj
    db = ctx.meta.get("hookconsole.db")
    if db:
        app.settings = replace(app.settings, db=db)
    endpoints = ctx.meta.get("hookconsole.endpoints")
    if endpoints:
        app.settings = replace(app.settings, endpoints=Path(endpoints))
    if ctx.meta.get("hookconsole.read_only"):
        app.settings = replace(app.settings, read_only=True)
    return app
