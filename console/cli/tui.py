"""`hookconsole tui`: the live console."""

from __future__ import annotations

from pathlib import Path

import click

from console.cli.context import app_context, fail, refuse_if_read_only, store_options
from console.domain.times import parse_duration_ms
from console.store.engine import check_url


@click.command("tui")
@store_options
@click.option(
    "--refresh", default="2s", show_default=True, help="How often the dashboard reads new attempts."
)
@click.option(
    "--follow",
    "sources",
    multiple=True,
    metavar="SOURCE",
    help="Keep a dispatcher database (svix+postgresql://..., convoy+postgresql://...) flowing into the store "
    "while the console is open; repeat for several.",
)
@click.option(
    "--every", default="2s", show_default=True, help="With --follow: how often each source is polled."
)
def tui_command(refresh: str, sources: tuple[str, ...], every: str) -> None:
    """Open the live console: dashboard, deliveries, event detail, replay and reports."""
    try:
        refresh_s = parse_duration_ms(refresh) / 1000
        every_s = parse_duration_ms(every) / 1000
    except ValueError as exc:
        fail(f"--refresh/--every: {exc}")
    if refresh_s < 0.2:
        fail("--refresh: at least 200ms")
    app = app_context()
    if sources:
        refuse_if_read_only("--follow (ingest)")
    check_url(app.db_url)  # a bad URL is one line here, not a traceback from inside the console
    follower = None
    if sources:
        from console.sources.service import BackgroundFollow

        follower = BackgroundFollow(app.db_url, sources, max(every_s, 0.1))  # a bad URL fails here
    from console.tui.app import make_app

    console_app = make_app(app.db_url, str(app.endpoints_path), refresh_s, read_only=app.settings.read_only)
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
@click.option(
    "--refresh", default="2s", show_default=True, help="How often the dashboard reads new attempts."
)
def demo_command(folder: Path, refresh: str) -> None:
    """Sample data, sandbox receivers (healthy, flaky, down for 3 minutes) and live traffic, in the console."""
    from console.demo import run_demo

    refuse_if_read_only("demo (sending sandbox traffic)")

    try:
        run_demo(folder, parse_duration_ms(refresh) / 1000)
    except RuntimeError as exc:
        fail(str(exc))
