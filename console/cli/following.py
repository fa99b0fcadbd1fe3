"""`ingest --follow`: each source (one file, or dispatcher databases) followed by the one follower
(console/ingest/follower.py) until SIGINT/SIGTERM, what it does said on stderr."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

import click

from console.cli.context import fail
from console.domain import formatting as fmt
from console.domain.follow import FollowStatus
from console.domain.times import format_ms
from console.ingest.follower import STOPPED_BY_REQUEST, Following, FollowReport
from console.ingest.log_files import SourceError
from console.ingest.mapping import LogMapping
from console.ingest.service import IngestSummary, Reject, RejectSink
from console.store import Store


def summary_line(summary: IngestSummary) -> str:
    """An ingest's totals on one line (the summary of `ingest`, the progress of `ingest --follow`)."""
    skipped = f", skipped {fmt.count(summary.skipped)}" if summary.skipped else ""
    return (
        f"accepted {fmt.count(summary.accepted)}, rejected {fmt.count(summary.rejected)}, "
        f"duplicates {fmt.count(summary.duplicates)}{skipped} in {fmt.latency(summary.seconds * 1000)} "
        f"({fmt.rate(summary.rate_per_s)} lines/s)"
    )


@dataclass(frozen=True)
class FollowOptions:
    """The options of `ingest` that apply to its followers."""

    every_s: float
    since_ms: int | None
    batch_size: int
    max_line_bytes: int
    mapping: LogMapping | None


class _Printed(FollowReport):
    """What `ingest --follow` says on stderr: each flush or pass that counted lines (unless --json), each
    failure streak with its retry, its end, and a stop that left something unstored."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def on_failed(self, status: FollowStatus, retry_in_s: float | None) -> None:
        click.echo(f"hookconsole: {status.reason} (retrying in {retry_in_s or 0:g}s)", err=True)

    def on_recovered(self, status: FollowStatus, failed_since_ms: int, tries: int) -> None:
        since = format_ms(failed_since_ms)[11:19]
        click.echo(
            f"hookconsole: {status.source}: following again ({fmt.counted(tries, 'failed try', 'failed tries')} "
            f"since {since} UTC)",
            err=True,
        )

    def on_stored(self, status: FollowStatus, summary: IngestSummary) -> None:
        if not self.as_json:
            click.echo(f"following {status.source}: {summary_line(summary)}", err=True)

    def on_stopped(self, status: FollowStatus) -> None:
        if status.reason != STOPPED_BY_REQUEST:
            click.echo(f"hookconsole: {status.source}: stopped: {status.reason}", err=True)


class _LockedSink(RejectSink):
    """A rejects sink several followers share."""

    def __init__(self, sink: RejectSink) -> None:
        super().__init__()
        self.sink = sink
        self.lock = threading.Lock()

    def __call__(self, reject: Reject) -> None:
        with self.lock:
            self.sink(reject)

    def flush(self) -> None:
        with self.lock:
            self.sink.flush()


def follow_all(
    store: Store, paths: tuple[str, ...], sink: RejectSink, as_json: bool, options: FollowOptions
) -> IngestSummary:
    """Follow each source (one file, or dispatcher databases) until SIGINT/SIGTERM; the totals."""
    from console.sources.service import open_follower

    shared = _LockedSink(sink)
    report = _Printed(as_json)
    try:
        followers = [
            open_follower(
                store,
                path,
                rejects=shared,
                mapping=options.mapping,
                every_s=options.every_s,
                since_ms=options.since_ms,
                batch_size=options.batch_size,
                max_line_bytes=options.max_line_bytes,
                report=report,
            )
            for path in paths
        ]
        for follower in followers:
            follower.feed.open()  # a file that cannot be opened now is an error, not a retry
    except SourceError as exc:
        fail(str(exc))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    following = Following(followers, stop)
    following.start()
    while not stop.wait(0.5):
        pass
    following.stop(timeout_s=None)
    total = total_of([f.feed.summary for f in followers])
    for status in following.statuses():
        if status.reason != STOPPED_BY_REQUEST:
            total.failed_sources.append(f"{status.source}: {status.reason}")
    return total


def total_of(summaries: list[IngestSummary]) -> IngestSummary:
    """The totals of several sources' runs as one summary."""
    if len(summaries) == 1:
        return summaries[0]
    total = IngestSummary()
    for part in summaries:
        total.accepted += part.accepted
        total.rejected += part.rejected
        total.duplicates += part.duplicates
        total.skipped += part.skipped
        total.lines += part.lines
        total.seconds += part.seconds
        total.sources.extend(part.sources)
    return total
