"""What the command line calls: read a source once, follow one (a file or a database), or list its endpoints."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from console.domain.follow import FollowStatus
from console.ingest.follow import FileFeed
from console.ingest.follower import Feed, Follower, Following, FollowReport
from console.ingest.log_files import MAX_LINE_BYTES, SourceError, display_name
from console.ingest.mapping import LogMapping
from console.ingest.service import DEFAULT_BATCH, RejectSink
from console.sources import dispatcher_for, is_source_url, parse_source_url
from console.sources.database import connect, read_transaction
from console.sources.dispatcher import ImportedEndpoint
from console.sources.reader import DatabaseFeed, SourceReader
from console.store import Store, open_store


def open_reader(
    store: Store, source: str, rejects: RejectSink | None = None, batch_size: int = DEFAULT_BATCH
) -> SourceReader:
    """A reader of the source URL `source` into `store` (SourceError for a bad URL)."""
    url = parse_source_url(source)
    return SourceReader(store, url, dispatcher_for(url), rejects, batch_size)


def list_endpoints(source: str) -> list[ImportedEndpoint]:
    """The endpoints of the dispatcher at `source`."""
    url = parse_source_url(source)
    dispatcher = dispatcher_for(url)
    conn = connect(url)
    try:
        with read_transaction(url, conn):
            dispatcher.prepare(conn)
            return dispatcher.endpoints(conn)
    finally:
        conn.close()


def open_follower(
    store: Store,
    source: str,
    *,
    rejects: RejectSink | None = None,
    mapping: LogMapping | None = None,
    every_s: float = 2.0,
    poll_s: float = 0.2,
    flush_s: float = 1.0,
    retry_s: float | None = None,
    since_ms: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    max_line_bytes: int = MAX_LINE_BYTES,
    report: FollowReport | None = None,
) -> Follower:
    """The follower of `source`: a dispatcher database polled every `every_s`, or a JSON Lines file (or named
    pipe, mapped through `mapping` if given) read every `poll_s` and written at least every `flush_s`. A bad URL
    is a SourceError here; a file is opened by the follower (and retried until it can be)."""
    if is_source_url(source):
        reader = open_reader(store, source, rejects, batch_size)
        feed: Feed = DatabaseFeed(reader, since_ms)
        return Follower(feed, every_s, retry_s if retry_s is not None else every_s, report)
    feed = FileFeed(
        store,
        source,
        rejects=rejects,
        flush_s=flush_s,
        batch_size=batch_size,
        max_line_bytes=max_line_bytes,
        mapping=mapping,
    )
    return Follower(feed, poll_s, retry_s if retry_s is not None else max(poll_s, 1.0), report)


class _Remembered(FollowReport):
    """Failures kept as lines (the last 20), for the command to print once the console has closed."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_failed(self, status: FollowStatus, retry_in_s: float | None) -> None:
        retry = f" (retrying in {retry_in_s:g}s)" if retry_in_s is not None else ""
        self.errors.append(f"{status.reason}{retry}")
        del self.errors[:-20]

    def on_stopped(self, status: FollowStatus) -> None:
        if status.reason != "asked to stop":
            self.errors.append(f"{status.source}: stopped: {status.reason}")


class BackgroundFollow:
    """Sources (files or dispatcher databases) kept flowing into a store by followers in threads, while the
    console is open. Sources are checked when it is made (SourceError for a bad URL or a missing file); the
    threads start on `start()` and end on `stop()`, which returns the failures they met. `statuses()` is what
    the console's header shows."""

    def __init__(
        self,
        store_url: str | None,
        sources: Sequence[str],
        every_s: float = 2.0,
        mapping: LogMapping | None = None,
    ) -> None:
        for source in sources:
            if is_source_url(source):
                parse_source_url(source)
            elif not (os.path.isfile(source) or stat.S_ISFIFO(_mode(source))):
                raise SourceError(f"{display_name(source)}: no such file")
        self.sources = list(sources)
        self.store_url = store_url
        self.every_s = every_s
        self.mapping = mapping
        self._report = _Remembered()
        self._following: Following | None = None
        self._store: Store | None = None

    @property
    def errors(self) -> list[str]:
        return self._report.errors

    def start(self) -> None:
        self._store = open_store(self.store_url)
        followers = [
            open_follower(self._store, s, every_s=self.every_s, mapping=self.mapping, report=self._report)
            for s in self.sources
        ]
        self._following = Following(followers)
        self._following.start()

    def statuses(self) -> list[FollowStatus]:
        return self._following.statuses() if self._following is not None else []

    def stop(self, timeout_s: float = 30.0) -> list[str]:
        if self._following is not None:
            self._following.stop(timeout_s)
        if self._store is not None:
            self._store.close()
        return self.errors

    def __enter__(self) -> BackgroundFollow:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _mode(path: str) -> int:
    try:
        return os.stat(path).st_mode
    except OSError:
        return 0
