"""`hookconsole ingest`: delivery logs into the store, with rejects, progress and a summary."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

import click
import orjson

from console.cli.context import app_context, fail, refuse_if_read_only, store_options
from console.cli.durations import poll_every_option
from console.cli.filters import _time as parse_since
from console.cli.following import FollowOptions, follow_all, summary_line, total_of
from console.cli.mapping_option import load_map_option, map_option
from console.cli.paths import refuse_overwrite
from console.domain import formatting as fmt
from console.domain.safetext import one_line
from console.ingest.log_files import FORMATS, MAX_LINE_BYTES, display_name
from console.ingest.service import DEFAULT_BATCH, IngestSummary, Reject, RejectSink, ingest_sources
from console.sources import is_source_url
from console.store import Store

SHOWN_REJECTS = 10


class _RejectPrinter:
    """Prints the first few rejects on stderr when no rejects file keeps them."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.shown = 0

    def __call__(self, reject: Reject) -> None:
        if self.quiet:
            return
        if self.shown < SHOWN_REJECTS:
            click.echo(one_line(f"rejected {reject.message}"), err=True)
        self.shown += 1


def _progress(summary: IngestSummary, total: int | None) -> None:
    done = f"{fmt.pct(min(summary.bytes_read / total, 1.0)):>6}  " if total else ""
    click.echo(
        f"\ringest: {done}{fmt.count(summary.lines)} lines  {fmt.rate(summary.rate_per_s)} lines/s  "
        f"rejected {fmt.count(summary.rejected)}   ",
        err=True,
        nl=False,
    )


@click.command("ingest")
@store_options
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--format",
    "fmt_name",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Log format; auto goes by file name, then by content.",
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every rejected line and its reason here (JSON Lines).",
)
@map_option(
    "A mapping file (TOML) saying where each field is in your own JSON lines or CSV; see docs/mapped-logs.md."
)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep reading the (single) file or named pipe as it grows, or poll the dispatcher database(s), until interrupted.",
)
@poll_every_option("--every", text="With --follow on a database source: how often it is polled.")
@click.option(
    "--since",
    callback=parse_since,
    metavar="WHEN",
    help="Database sources: (re)read attempts created since then (24h, 7d or RFC 3339), then go on from the cursor.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1_000_000),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Lines per transaction.",
)
@click.option(
    "--max-line-bytes",
    type=click.IntRange(1, 1 << 30),
    default=MAX_LINE_BYTES,
    show_default=True,
    help="Longest line read; a longer one is rejected and skipped.",
)
def ingest_command(
    paths: tuple[str, ...],
    fmt_name: str,
    rejects_path: Path | None,
    map_path: Path | None,
    follow: bool,
    every: float,
    since: int | None,
    as_json: bool,
    batch_size: int,
    max_line_bytes: int,
) -> None:
    """Read delivery logs (JSON Lines or CSV, .gz, - for stdin) into the store.

    Idempotent: lines already stored count as duplicates. Bad lines are rejected with file, line and field.

    A PATH may instead be a dispatcher's database, read-only and incrementally (docs/sources.md):
    svix+postgresql://USER@HOST:PORT/DB?app=APP or convoy+postgresql://USER@HOST:PORT/DB?project=ID.
    """
    refuse_if_read_only("ingest")
    is_url = [is_source_url(p) for p in paths]
    if any(is_url) and not all(is_url):
        fail("give either log files or database source URLs, not both in one run")
    if since is not None and not any(is_url):
        fail("--since applies to database sources (svix+postgresql://..., convoy+postgresql://...)")
    app = app_context()
    refuse_overwrite("--rejects", [rejects_path] if rejects_path else [], inputs=paths, db=app.db_url)
    mapping = load_map_option(map_path)
    if not follow and not any(is_url):
        missing = [p for p in paths if p != "-" and not os.path.lexists(p)]
        if len(missing) == len(paths):  # nothing to read: the store is not even opened (nor created)
            fail("; ".join(f"{display_name(p)}: no such file" for p in missing))
    store = app.store()
    rejects_file: IO[bytes] | None = None
    if rejects_path is not None:
        try:
            rejects_file = rejects_path.open("wb")
        except OSError as exc:
            fail(f"--rejects {rejects_path}: cannot be written ({exc.strerror})")
    printer = _RejectPrinter(quiet=as_json and rejects_file is not None)
    sink = RejectSink(rejects_file, printer)
    try:
        if follow:
            if not any(is_url):
                _check_followed_file(paths, fmt_name)
            options = FollowOptions(every, since, batch_size, max_line_bytes, mapping)
            summary = follow_all(store, paths, sink, as_json, options)
        elif any(is_url):
            summary = read_database_sources(store, paths, sink, as_json, since, batch_size)
        else:
            show_progress = sys.stderr.isatty() and not as_json
            summary = ingest_sources(
                store,
                paths,
                fmt=fmt_name,
                rejects=sink,
                progress=_progress if show_progress else None,
                batch_size=batch_size,
                max_line_bytes=max_line_bytes,
                mapping=mapping,
            )
            if show_progress:
                click.echo("", err=True)
    finally:
        if rejects_file is not None:
            rejects_file.close()
    if printer.shown > SHOWN_REJECTS and rejects_file is None:
        click.echo(
            f"... and {printer.shown - SHOWN_REJECTS} more rejected lines (--rejects FILE keeps them all)",
            err=True,
        )
    if as_json:
        click.echo(orjson.dumps(summary.as_json()).decode())
    elif summary.sources or not summary.failed_sources:  # nothing could be read: the error alone says it
        click.echo(summary_line(summary))
    if summary.failed_sources:
        fail("; ".join(summary.failed_sources))


def _check_followed_file(paths: tuple[str, ...], fmt_name: str) -> None:
    if len(paths) != 1 or paths[0] == "-":
        fail("--follow takes exactly one file path")
    if fmt_name == "csv":
        fail("--follow reads JSON Lines only")


def read_database_sources(
    store: Store,
    urls: tuple[str, ...],
    sink: RejectSink,
    as_json: bool,
    since: int | None,
    batch_size: int,
) -> IngestSummary:
    """Read each dispatcher database once."""
    from console.sources.service import open_reader

    readers = [open_reader(store, url, sink, batch_size) for url in urls]
    try:
        show_progress = sys.stderr.isatty() and not as_json
        for reader in readers:
            reader.read(since, progress=(lambda s: _progress(s, None)) if show_progress else None)
        if show_progress:
            click.echo("", err=True)
    finally:
        for reader in readers:
            reader.close()
    return total_of([r.summary for r in readers])
