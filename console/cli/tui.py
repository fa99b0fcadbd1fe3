"""`hookconsole tui`: the live console."""

from __future__ import annotations

from pathlib import Path

import click

from console.cli.context import app_context, fail, refuse_if_read_only, store_options
from console.cli.durations import interval, poll_every_option
from console.cli.mapping_option import load_map_option, map_option
from console.store import open_store
from console.store.engine import check_url

# The console's --refresh, for `tui` and `demo` alike.
refresh_option = click.option(
    "--refresh",
    default="2s",
    show_default=True,
    type=interval(200),
    help="How often the dashboard reads new attempts.",
)


@click.command("tui")
@store_options
@refresh_option
@click.option(
    "--follow",
    "sources",
    multiple=True,
    metavar="SOURCE",
    help="Keep a source flowing into the store while the console is open: a JSON Lines file or named pipe, or "
    "a dispatcher database (svix+postgresql://..., convoy+postgresql://...); repeat for several. The header "
    "shows each one's state.",
)
@poll_every_option("--every", text="With --follow: how often each database source is polled.")
@map_option(
    "With --follow: the file sources are your own JSON lines, mapped by this file (docs/mapped-logs.md)."
)
def tui_command(refresh: float, sources: tuple[str, ...], every: float, map_path: Path | None) -> None:
    """Open the live console: dashboard, deliveries, event detail, replay and reports."""
    app = app_context()
    if sources:
        refuse_if_read_only("--follow (ingest)")
    check_url(app.db_url)  # a bad URL is one line here, not a traceback from inside the console
    follower = None
    if sources:
        from console.sources.service import BackgroundFollow

        mapping = load_map_option(map_path)
        # a bad URL or a missing file fails here
        follower = BackgroundFollow(app.db_url, sources, every, mapping)
    elif map_path is not None:
        fail("--map applies to --follow file sources")
    else:  # only a follower creates a store: the console opens one that exists, as `stats` does
        open_store(app.db_url, read_only=True).close()
    from console.tui.app import make_app

    console_app = make_app(
        app.db_url,
        str(app.endpoints_path),
        refresh,
        read_only=app.settings.read_only,
        followed=follower.statuses if follower is not None else None,
    )
    if follower is None:
        console_app.run()
        return
    follower.start()
    try:
        console_app.run()
    finally:
        errors = follower.stop()
    for message in errors:
        click.echo(f"hookconsole: --follow: {message}", err=True)


@click.command("demo")
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".demo"),
    show_default=True,
    help="Where the demo's store, endpoints and logs go (recreated each run).",
)
@refresh_option
def demo_command(folder: Path, refresh: float) -> None:
    """Sample data, sandbox receivers (healthy, flaky, down for 3 minutes) and live traffic, in the console."""
    from console.demo import run_demo

    refuse_if_read_only("demo (sending sandbox traffic)")

    try:
        run_demo(folder, refresh)
    except RuntimeError as exc:
        fail(str(exc))
