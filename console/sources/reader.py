"""Reading a dispatcher's attempts into the store, incrementally, through the one write path.

The cursor (kept in the store, written in the same transaction as the attempts it covers):
- `after`: every attempt row with an id up to this one has been dealt with;
- `beyond`: ids above `after` already dealt with. Ids are only nearly in commit order: Svix stamps a row
  with its request's start and commits it when the request ends (a timeout: 30 s later), so `after` moves
  only over rows older than the dispatcher's read window (`Dispatcher.late_ms`, `window=` on the URL) by the
  dispatcher's clock; newer rows are stored at once and listed here so the next read skips them;
- `open`: ids of attempts still pending or sending. They are read again on every pass and stored when they
  have ended (Svix updates such rows in place).
Nothing is counted twice either way: the natural key `(event_id, endpoint_id, attempt, trigger)` holds.
Each batch is written (with its cursor) while the next one is read (`console.sources.writes`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from console.domain.safetext import one_line
from console.domain.urls import mask_url
from console.ingest.follower import store_failure
from console.ingest.ingestor import collector_paused, young_collected
from console.ingest.service import DEFAULT_BATCH, IngestSummary, Reject, RejectSink
from console.sources.database import connect, db_now_ms, read_transaction
from console.sources.dispatcher import FINAL, OPEN, ROW_CREATED, ROW_ID, Dispatcher
from console.sources.url import SourceURL
from console.sources.writes import OrderedWrites
from console.store import Store
from console.store.cursors import load_cursor, rename_cursor, save_cursor, write_with_cursor
from console.store.writer import WriteResult

# A row dated further ahead of the dispatcher's clock is rejected (it would hold the cursor).
FUTURE_MS = 3_600_000


class RowReject(Reject):
    """A dispatcher row that was not stored: named by its table and id (rows have no line number)."""

    @property
    def message(self) -> str:
        return f"{self.source}: {self.reason}"


OPEN_CHUNK = 1000


def describe(url: SourceURL, exc: BaseException) -> str:
    """One line for a failed read: the source's own errors as they are, the store's as the driver says them
    (its first line only: later lines repeat the statement); never the source's credentials."""
    from console.ingest.log_files import SourceError

    if isinstance(exc, SourceError):
        text = (str(exc).strip().splitlines() or [""])[0]
    else:
        text = f"{url.display}: {store_failure(exc)}"
    return url.mask(text)[:500]


class SourceReader:
    """One dispatcher database read into one store; `read()` is one incremental pass."""

    def __init__(
        self,
        store: Store,
        url: SourceURL,
        dispatcher: Dispatcher,
        rejects: RejectSink | None = None,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.store = store
        self.url = url
        self.dispatcher = dispatcher
        self.rejects = rejects or RejectSink()
        self.batch_size = batch_size
        self.summary = IngestSummary(sources=[url.display])
        self._conn: Any = None
        self._prepared = False
        self._rekeyed = False
        self._labelled: set[str] = set()  # endpoints whose source (tenant) this reader has stored
        self.stop: threading.Event | None = None  # when set, a pass ends after its current batch

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url)
            self._prepared = False
        return self._conn

    def read(
        self, since_ms: int | None = None, progress: Callable[[IngestSummary], None] | None = None
    ) -> IngestSummary:
        """Store what is new since the cursor (and what ended since); returns the running totals. Python's
        cycle collector is paused meanwhile, as for a file ingest (`collector_paused`)."""
        started = time.perf_counter()
        conn = self._connection()
        try:
            with collector_paused(), read_transaction(self.url, conn):
                if not self._prepared:
                    self.dispatcher.prepare(conn)
                    self._prepared = True
                self._pass(conn, since_ms, progress)
        except BaseException:
            self.close()  # a broken connection is opened afresh on the next pass
            raise
        finally:
            self.summary.seconds += time.perf_counter() - started
        return self.summary

    def _pass(
        self, conn: Any, since_ms: int | None, progress: Callable[[IngestSummary], None] | None
    ) -> None:
        if self.url.legacy_key and not self._rekeyed:  # older versions kept credentials in the key
            rename_cursor(self.store, self.url.legacy_key, self.url.key)
            self._rekeyed = True
        saved = load_cursor(self.store, self.url.key) or {}
        after: str | None = saved.get("after")
        open_ids: set[str] = set(saved.get("open", ()))
        beyond: set[str] = set(saved.get("beyond", ()))
        now = db_now_ms(conn)
        settle_before = now - self.dispatcher.late_ms
        too_new = now + FUTURE_MS

        def state() -> dict[str, Any]:
            return {
                "after": after,
                "open": sorted(open_ids),
                "beyond": sorted(b for b in beyond if after is None or b > after),
            }

        # Each stored batch writes the cursor in its own transaction (`_store`); a save at the end is needed only
        # when the state changed after the last stored batch (open rows deleted meanwhile), or on a first
        # read that stored nothing (so the source is known). The writes go on while the next batch is read.
        unsaved = not saved
        writes = OrderedWrites()
        try:
            listed = sorted(open_ids)
            for start in range(0, len(listed), OPEN_CHUNK):
                chunk = listed[start : start + OPEN_CHUNK]
                rows = self.dispatcher.rows_by_id(conn, chunk)
                found = {row[ROW_ID] for row in rows}
                ended = []
                for row in rows:
                    kind = self.dispatcher.row_state(row)
                    if kind != OPEN:
                        open_ids.discard(row[ROW_ID])
                        if kind == FINAL:
                            ended.append(row)
                open_ids.difference_update(set(chunk) - found)  # deleted meanwhile
                if ended:
                    self._store(conn, writes, ended, state())
                    unsaved = False
                elif len(found) < len(chunk):
                    unsaved = True

            settled = True
            for rows in self.dispatcher.new_rows(
                conn, None if since_ms is not None else after, since_ms, self.batch_size
            ):
                final = []
                future: list[tuple[str, str]] = []
                for row in rows:
                    row_id, created = row[ROW_ID], row[ROW_CREATED]
                    known = row_id in beyond or row_id in open_ids
                    if created is not None and created > too_new:
                        created = None  # settled: it must not hold the cursor
                        if not known:
                            future.append(
                                (row_id, "created_at: more than 1 h ahead of the dispatcher's clock")
                            )
                    elif not known:
                        kind = self.dispatcher.row_state(row)
                        if kind == OPEN:
                            open_ids.add(row_id)
                        elif kind == FINAL:
                            final.append(row)
                    if after is not None and row_id <= after:
                        continue  # re-read for --since: the cursor is past it already
                    if settled and (created is None or created < settle_before):
                        after = row_id
                        beyond.discard(row_id)
                    else:
                        settled = False
                        if row_id not in open_ids:
                            beyond.add(row_id)
                beyond = {b for b in beyond if after is None or b > after}
                self._store(conn, writes, final, state(), future)
                unsaved = False
                if progress is not None:
                    progress(self.summary)
                if self.stop is not None and self.stop.is_set():
                    break  # the cursor covers every batch written (the last one is being written)
            writes.drain(failing=False)
        except BaseException:
            writes.drain(failing=True)
            raise
        finally:
            self.dispatcher.abandoned()
        if progress is not None:
            progress(self.summary)
        if unsaved:
            save_cursor(self.store, self.url.key, state())

    def _store(
        self,
        conn: Any,
        writes: OrderedWrites,
        rows: Sequence[tuple[Any, ...]],
        state: dict[str, Any],
        rejected: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Hand `writes` the records of final `rows` and the cursor `state`, to write in one transaction;
        `rejected` rows (id, reason) are counted and reported once that transaction commits."""
        converted = self.dispatcher.convert(conn, rows) if rows else None
        store, key = self.store, self.url.key
        if converted is None:
            writes.submit(
                lambda: save_cursor(store, key, state), lambda _: self._rejected(len(rejected), rejected)
            )
            return
        unlabelled = {a.endpoint_id for a in converted.attempts} - self._labelled
        labels = self.dispatcher.sources_of(conn, sorted(unlabelled)) if unlabelled else {}

        def stored(result: WriteResult) -> None:
            self.dispatcher.committed(converted)
            self._labelled |= unlabelled
            summary = self.summary
            self._rejected(len(rows) + len(rejected), [*rejected, *converted.rejects])
            summary.accepted += result.inserted
            summary.duplicates += result.duplicates
            for (event_id, endpoint_id, _, _), reason in result.rejected.items():
                self._reject(f"of {event_id} at {endpoint_id}", reason)
            self.rejects.flush()
            young_collected()

        writes.submit(
            lambda: write_with_cursor(store, key, state, converted.attempts, converted.events, labels), stored
        )

    def _rejected(self, lines: int, rejects: Sequence[tuple[str, str]]) -> None:
        self.summary.lines += lines
        for row_id, reason in rejects:
            self._reject(row_id, reason)

    def _reject(self, row_id: str, reason: str) -> None:
        self.summary.rejected += 1
        where = f"{self.url.display}: {self.dispatcher.attempts_table} {row_id}"
        self.rejects(RowReject(where, 0, reason, row_id.encode()))


class DatabaseFeed:
    """A dispatcher database as the follower's feed: a step is one read pass (`SourceReader.read`), whose
    cursor moves in the transaction of each batch it stores. `since_ms` applies to the first pass that
    succeeds. Lag: seconds since the start of the last pass that succeeded (its snapshot), counted from when
    the feed was made before the first one."""

    def __init__(self, reader: SourceReader, since_ms: int | None = None) -> None:
        self.reader = reader
        self.label = mask_url(reader.url.display)
        self.name = one_line(short_name(reader.url))
        self.summary = reader.summary
        self.since_ms = since_ms
        self.polled_at = time.time()

    def open(self) -> None:
        """The URL was checked when the reader was made; the database is reached (and retried) by `step`."""

    def step(self, stop: threading.Event) -> bool:
        self.reader.stop = stop  # a pass ends after its current batch once stop is set
        started = time.time()
        self.reader.read(self.since_ms)
        self.since_ms = None
        self.polled_at = started
        return False

    def finish(self) -> None:
        """Every batch read was stored with its cursor: nothing is left to write."""

    def lag_s(self) -> float:
        return max(0.0, time.time() - self.polled_at)

    def reason(self, exc: BaseException) -> str:
        return self.mask(describe(self.reader.url, exc))

    def mask(self, text: str) -> str:
        """One line, the credentials blanked and the URL shown as its label."""
        url = self.reader.url
        return " ".join(url.mask(text).replace(url.display, self.label).splitlines())

    def close(self) -> None:
        self.reader.close()


def short_name(url: SourceURL) -> str:
    """A source's brief name for the console's header: `svix shop`, `convoy proj_1`, `svix hooks/public`."""
    options = url.options
    scope = options.get("app") or options.get("project") or options.get("org")
    if scope is None:
        scope = unquote(urlsplit(url.display).path.lstrip("/"))
        if "schema" in options:
            scope += f"/{options['schema']}"
    return f"{url.kind} {scope}"
