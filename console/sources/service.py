"""What the command line calls: read a source once, follow it, or list its endpoints."""

from __future__ import annotations

from console.ingest.service import DEFAULT_BATCH, RejectSink
from console.sources import dispatcher_for, parse_source_url
from console.sources.database import connect, read_transaction
from console.sources.dispatcher import ImportedEndpoint
from console.sources.reader import SourceReader
from console.store import Store


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
