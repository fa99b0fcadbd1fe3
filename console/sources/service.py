"""What the command line calls: read a source once, follow it, or list its endpoints."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from console.ingest.service import DEFAULT_BATCH, RejectSink
from console.sources import dispatcher_for, parse_source_url
from console.sources.database import connect, read_transaction
from console.sources.dispatcher import ImportedEndpoint
from console.sources.reader import SourceReader, follow_sources
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


class BackgroundFollow:
    """Dispatcher sources kept flowing into a store by a thread, e.g. while the console is open.

    URLs are checked when it is made (SourceError), the thread starts on `start()` and ends on `stop()`,
    which returns the errors its passes met (each pass is retried at the next tick; the console itself knows
    nothing of the sources, it sees the attempts arrive in the store).
    """

    def __init__(self, store_url: str | None, sources: Sequence[str], every_s: float = 2.0) -> None:
        self.urls = [parse_source_url(s) for s in sources]
        self.store_url = store_url
        self.every_s = every_s
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None

    def start(self) -> None:
        self._store = open_store(self.store_url)
        readers = [SourceReader(self._store, url, dispatcher_for(url)) for url in self.urls]
        self._thread = threading.Thread(
            target=follow_sources,
            args=(readers, self._stop),
            kwargs={"every_s": self.every_s, "on_error": self._record},
            name="hookconsole-follow",
            daemon=True,
        )
        self._thread.start()

    def _record(self, message: str) -> None:
        if not self.errors or self.errors[-1] != message:
            self.errors.append(message)
        del self.errors[:-20]

    def stop(self, timeout_s: float = 30.0) -> list[str]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._store is not None:
            self._store.close()
        return self.errors

    def __enter__(self) -> BackgroundFollow:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
