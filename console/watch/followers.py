"""What `watch` follows into the store, through the one follower (console/ingest/follower.py): JSON Lines files
(tailed, optionally through a log mapping) and dispatcher databases (polled), each in a thread of its own. Here:
how they speak in watch's log (a failure once per streak, its end, rejected lines) and how far behind each is
(`hookconsole_source_last_success_timestamp_seconds`).

Lag of a file: seconds since the last write of what the file held then, 0 when nothing newer sits in it.
Lag of a database: seconds since the start of the last successful poll (its snapshot: a row committed after it
is not read yet), counted from the start of `watch` before the first one. While the database answers it stays
below the poll interval plus a poll's duration; it grows while polls fail.
"""

from __future__ import annotations

from collections.abc import Callable

from console.domain import formatting as fmt
from console.domain.follow import FollowStatus
from console.domain.times import format_ms, now_ms
from console.ingest.follow import FileFeed
from console.ingest.follower import STOPPED_BY_REQUEST, Follower, FollowReport
from console.ingest.mapping import LogMapping
from console.ingest.service import IngestSummary, Reject, RejectSink
from console.sources.reader import DatabaseFeed
from console.sources.service import open_follower
from console.store import Store
from console.watch.logs import Log
from console.watch.stalled import SourceActivity

SHOWN_REJECTS = 20  # rejected lines logged per source; the rest are counted, not logged


def logged_rejects(log: Log, label: str, mask: Callable[[str], str] = str) -> RejectSink:
    """A sink logging the first `SHOWN_REJECTS` rejected lines (or rows) of a source, one line each."""
    shown = 0

    def on_reject(reject: Reject) -> None:
        nonlocal shown
        shown += 1
        if shown <= SHOWN_REJECTS:
            log.warning("line_rejected", mask(f"rejected {reject.message}"), source=label)
        if shown == SHOWN_REJECTS:
            log.warning("line_rejected", f"{label}: further rejected lines are not logged", source=label)

    return RejectSink(on_reject=on_reject)


class LoggedReport(FollowReport):
    """A follower's failures and recoveries as watch log lines (`source_error`, `source_recovered`,
    `source_stopped`)."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.activity: SourceActivity | None = None

    def on_failed(self, status: FollowStatus, retry_in_s: float | None) -> None:
        retrying = " (retrying)" if retry_in_s is not None else ""
        self.log.error("source_error", f"{status.reason}{retrying}", source=status.source)

    def on_recovered(self, status: FollowStatus, failed_since_ms: int, tries: int) -> None:
        since = format_ms(failed_since_ms)
        self.log.info(
            "source_recovered",
            f"{status.source}: reading again (failing since {since}, {fmt.counted(tries, 'try', 'tries')})",
            source=status.source,
        )

    def on_stored(self, status: FollowStatus, summary: IngestSummary) -> None:
        """A batch: the source produced something (what the source_stalled rule counts gaps between)."""
        if self.activity is not None:
            self.activity.record(now_ms())

    def on_stopped(self, status: FollowStatus) -> None:
        if status.reason != STOPPED_BY_REQUEST:
            self.log.error(
                "source_stopped", f"{status.source}: stopped: {status.reason}", source=status.source
            )


def watch_follower(
    store: Store,
    source: str,
    log: Log,
    *,
    mapping: LogMapping | None,
    every_s: float,
    poll_s: float,
    flush_s: float,
    activity: dict[str, SourceActivity] | None = None,
) -> Follower:
    """The follower of one SOURCE of `watch` (a bad URL is a SourceError), its rejects and failures logged, its
    batches recorded in `activity` (by the source's label) for the source_stalled rule."""
    report = LoggedReport(log)
    follower = open_follower(
        store,
        source,
        mapping=mapping,
        every_s=every_s,
        poll_s=poll_s,
        flush_s=flush_s,
        report=report,
    )
    if activity is not None:
        report.activity = activity[follower.label] = SourceActivity(follower.label)
    feed = follower.feed
    if isinstance(feed, DatabaseFeed):
        feed.reader.rejects = logged_rejects(log, feed.label, mask=feed.mask)
    elif isinstance(feed, FileFeed):
        feed.ingestor.rejects = logged_rejects(log, feed.label)
    return follower
