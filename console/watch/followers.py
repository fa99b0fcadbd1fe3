"""What `watch` follows into the store: JSON Lines files (tailed, optionally through a log mapping) and
dispatcher databases (polled). Each runs in a thread of its own, reports its errors as single log lines, keeps
going, and says how far behind it is (`hookconsole_source_lag_seconds`).

Lag of a file: seconds since the last write of what the file held then, 0 when nothing newer sits in it.
Lag of a database: seconds since the start of the last successful poll (its snapshot: a row committed after it
is not read yet), counted from the start of `watch` before the first one. While the database answers it stays
below the poll interval plus a poll's duration; it grows while polls fail.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from console.domain.backoff import retry_waits
from console.domain.urls import mask_url
from console.ingest.follow import follow
from console.ingest.service import IngestSummary, Reject, RejectSink
from console.ingest.sources import SourceError, display_name
from console.store import Store
from console.watch.logs import Log

if TYPE_CHECKING:
    from console.ingest.mapping import LogMapping
    from console.sources.reader import SourceReader

SHOWN_REJECTS = 20  # rejected lines logged per source; the rest are counted, not logged
ERROR_REPEAT_S = 60.0  # a source failing the same way is logged again at most this often


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


class _Failures:
    """A source's failures as log lines: one per distinct message (again after `ERROR_REPEAT_S` if it
    persists), and one when it works again."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.failing: str | None = None
        self._logged_at = 0.0

    def failed(self, log: Log, message: str) -> None:
        message = " ".join(message.splitlines())
        now = time.monotonic()
        if message != self.failing or now - self._logged_at >= ERROR_REPEAT_S:
            log.error("source_error", f"{message} (retrying)", source=self.label)
            self._logged_at = now
        self.failing = message

    def working(self, log: Log) -> None:
        if self.failing is not None:
            log.info("source_recovered", f"{self.label}: reading again", source=self.label)
            self.failing = None


class FileFollower:
    """One JSON Lines file tailed as `ingest --follow` does (mapped through `mapping` if given). When the tail
    fails (the store busy, the file unreadable) it is logged and started again from the file's start after a
    wait; the natural key makes the lines read twice count once."""

    def __init__(self, path: str, mapping: LogMapping | None = None) -> None:
        self.path = path
        self.label = display_name(path)  # in logs and metric labels: one line, valid UTF-8
        self.mapping = mapping
        self.thread: threading.Thread | None = None
        self.flushed_at = time.time()
        self.summary: IngestSummary | None = None
        self.failures = _Failures(self.label)

    def lag_s(self) -> float:
        """Seconds since the last write of what the file held then: 0 when nothing newer sits in the file."""
        try:
            modified = os.stat(self.path).st_mtime
        except OSError:
            return 0.0
        if modified <= self.flushed_at:
            return 0.0
        return max(0.0, time.time() - self.flushed_at)

    def start(self, store: Store, stop: threading.Event, log: Log, poll_s: float, flush_s: float) -> None:
        self.thread = threading.Thread(
            target=self._run,
            args=(store, stop, log, poll_s, flush_s),
            name=f"follow {self.label}",
            daemon=True,
        )
        self.thread.start()

    def _run(self, store: Store, stop: threading.Event, log: Log, poll_s: float, flush_s: float) -> None:
        def flushed(summary: IngestSummary) -> None:
            self.flushed_at = time.time()
            self.summary = summary
            self.failures.working(log)

        rejects = logged_rejects(log, self.label)
        waits = retry_waits(max(poll_s, 1.0))
        while not stop.is_set():
            try:
                follow(
                    store,
                    self.path,
                    stop,
                    rejects=rejects,
                    poll_s=poll_s,
                    flush_s=flush_s,
                    on_flush=flushed,
                    mapping=self.mapping,
                )
                return
            except SourceError as exc:
                self.failures.failed(log, str(exc))
            except Exception as exc:
                self.failures.failed(log, f"{self.label}: {type(exc).__name__}: {exc}")
            stop.wait(next(waits))


class DatabaseFollower:
    """One dispatcher database polled every `every_s` through its `SourceReader` (cursor in the store).

    A failed poll is logged (once per distinct message, then at most every `ERROR_REPEAT_S`), retried with a
    doubling wait from `every_s` capped at `RETRY_CAP_S`, and its recovery logged; it never ends the thread.
    """

    def __init__(self, reader: SourceReader, every_s: float, log: Log) -> None:
        self.reader = reader
        self.label = mask_url(reader.url.display)
        reader.rejects = logged_rejects(log, self.label, mask=self._mask)
        self.every_s = every_s
        self.thread: threading.Thread | None = None
        self.polled_at = time.time()  # start of the last successful poll (or of watch)
        self.failures = _Failures(self.label)

    def lag_s(self) -> float:
        return max(0.0, time.time() - self.polled_at)

    def start(self, stop: threading.Event, log: Log) -> None:
        self.reader.stop = stop  # a poll ends after its current batch once stop is set
        self.thread = threading.Thread(
            target=self._run, args=(stop, log), name=f"poll {self.label}", daemon=True
        )
        self.thread.start()

    def poll(self, log: Log) -> bool:
        """One read pass; True when it succeeded. Errors are logged, never raised."""
        started = time.time()
        try:
            self.reader.read()
        except SourceError as exc:
            self.failures.failed(log, self._mask(str(exc)))
            return False
        except Exception as exc:  # the store busy or gone: same treatment, the cursor makes the retry exact
            self.failures.failed(log, self._mask(f"{self.label}: {type(exc).__name__}: {exc}"))
            return False
        self.polled_at = started
        self.failures.working(log)
        return True

    def _mask(self, message: str) -> str:
        """One line, the password blanked and the URL shown as its label (credential-like parameters masked)."""
        message = self.reader.url.mask(message).replace(self.reader.url.display, self.label)
        return " ".join(message.splitlines())

    def _run(self, stop: threading.Event, log: Log) -> None:
        waits = retry_waits(self.every_s)
        try:
            while not stop.is_set():
                if self.poll(log):
                    waits = retry_waits(self.every_s)
                    stop.wait(self.every_s)
                else:
                    stop.wait(next(waits))
        finally:
            self.reader.close()
