"""`hookconsole watch` (the headless service: sources, alert rules, notifications, metrics) and `alerts check`."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import click

from console.cli.context import app_context, fail, refuse_if_read_only, store_options
from console.cli.durations import interval, poll_every_option
from console.cli.mapping_option import load_map_option, map_option
from console.demo import PARENT_ENV
from console.domain.gaps import DEFAULT_MAX_TRIES
from console.ingest.log_files import SourceError, display_name
from console.sources import is_source_url, parse_source_url
from console.watch.daemon import EXIT_ERROR, Watcher, WatchError, WatchOptions
from console.watch.logs import Log
from console.watch.rules import AlertsConfig, AlertsError, check_alerts, load_alerts

DEFAULT_ALERTS = "alerts.toml"


@click.command("watch")
@store_options
@click.argument("sources", nargs=-1, metavar="[SOURCE...]")
@click.option(
    "--alerts",
    "alerts_path",
    metavar="FILE",
    envvar="HOOKCONSOLE_ALERTS",
    show_envvar=True,
    help=f"Alert rules and channels [default: ./{DEFAULT_ALERTS} when it exists].",
)
@click.option(
    "--every", default="10s", show_default=True, type=interval(100), help="How often the rules are evaluated."
)
@poll_every_option(
    "--every-source",
    "every_source",
    text="How often each database source is polled (ingest --follow's --every).",
)
@map_option(
    "The file sources are your own JSON lines, mapped by this file (as ingest --map; docs/mapped-logs.md)."
)
@click.option(
    "--metrics-port", type=click.IntRange(0, 65535), help="Serve Prometheus metrics on this port (0: any)."
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address the metrics listen on.")
@click.option(
    "--once", is_flag=True, help="Evaluate once and exit: 0 none firing, 3 firing, 1 error (for cron)."
)
@click.option(
    "--max-tries",
    type=click.IntRange(1, 1000),
    default=DEFAULT_MAX_TRIES,
    show_default=True,
    help="The dispatcher's maximum attempts: a delivery whose last try fails counts as given up (metrics).",
)
@click.option("--json-logs", is_flag=True, help="Log one JSON object per line on stderr.")
def watch_command(
    sources: tuple[str, ...],
    alerts_path: str | None,
    every: float,
    every_source: float,
    map_path: Path | None,
    metrics_port: int | None,
    metrics_host: str,
    once: bool,
    max_tries: int,
    json_logs: bool,
) -> None:
    """Follow SOURCEs into the store, evaluate alert rules, send notifications and serve metrics.

    A SOURCE is a JSON Lines file or named pipe (tailed; --map for your own log shape) or a dispatcher database,
    svix+postgresql://USER@HOST:PORT/DB or convoy+postgresql://... (polled every --every-source; docs/sources.md).
    Runs until SIGTERM or Ctrl-C; what was read and the alert state are in the store when it stops.
    In read-only mode SOURCEs are refused (following one ingests); rules and metrics alone still run.
    """
    if sources:
        refuse_if_read_only("watch SOURCE (ingest)")
    stop = threading.Event()
    previous = {}
    if not once:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
        stop_with_parent(stop)
    try:
        options = WatchOptions(
            sources=sources,
            every_s=every,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            source_every_s=every_source,
            mapping=load_map_option(map_path),
            max_tries=max_tries,
        )
        _watch(stop, options, alerts_path, once, json_logs)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_with_parent(stop: threading.Event) -> None:
    """When started by `demo`, stop (cleanly) as soon as the demo process is gone, even if it was killed."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit():
        return

    def check() -> None:
        while not stop.wait(0.5):
            if os.getppid() != int(parent):
                stop.set()

    threading.Thread(target=check, name="parent-watch", daemon=True).start()


def _watch(
    stop: threading.Event, options: WatchOptions, alerts_path: str | None, once: bool, json_logs: bool
) -> None:
    config = _load(alerts_path)
    log = Log(json_lines=json_logs)
    app = app_context()
    _check_sources(options.sources)
    try:
        watcher = Watcher(app.store(), config, replace(options, db_url=app.db_url), log)
        if once:
            sys.exit(watcher.once())
        sys.exit(watcher.run(stop))
    except WatchError as exc:
        fail(str(exc))
    except OSError as exc:
        log.error("watch_failed", f"watch: {exc.strerror or exc}")
        sys.exit(EXIT_ERROR)


def _check_sources(sources: Sequence[str]) -> None:
    """Every SOURCE is an existing file or a well-formed database source URL; one line naming it if not."""
    for source in sources:
        if is_source_url(source):
            try:
                parse_source_url(source)
            except SourceError as exc:
                fail(str(exc))
        elif source == "-" or not (Path(source).is_file() or Path(source).is_fifo()):
            fail(
                f"{display_name(source)}: no such file (watch follows JSON Lines files, named pipes and "
                "svix+postgresql://... or convoy+postgresql://... databases)"
            )


def _load(alerts_path: str | None) -> AlertsConfig:
    if alerts_path is None:
        if not os.path.exists(DEFAULT_ALERTS):
            return AlertsConfig(None, (), ())
        alerts_path = DEFAULT_ALERTS
    try:
        return load_alerts(alerts_path)
    except AlertsError as exc:
        fail(str(exc))


@click.group("alerts")
def alerts_group() -> None:
    """Alert rules and notification channels (alerts.toml)."""


@alerts_group.command("check")
@click.argument("path", default=DEFAULT_ALERTS, metavar="[FILE]")
def alerts_check(path: str) -> None:
    """Validate alerts.toml: rules, channels and that every secret reference resolves."""
    config, problems = check_alerts(path)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        fail(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
    assert config is not None
    routes = f", {len(config.routes)} route(s)" if config.routes else ""
    click.echo(f"{path}: {len(config.rules)} rule(s), {len(config.channels)} channel(s){routes}, ok")
