"""The one follower: a source (a growing file, a named pipe, a dispatcher database: a `Feed`) kept flowing into
the store by a loop that never dies of an exception, for `ingest --follow`, `watch SOURCE...` and
`tui --follow` alike.

A step that fails (the source unreadable, the store locked or gone) is tried again after a wait doubling from
`retry_s` up to `RETRY_CAP_S` (console/domain/backoff.py); the feed keeps what it read and did not store, so the
retry is exact. The failure is reported once per streak (again only for a reason not reported yet in it), and
its end too. `status()` says at any time what the follower is doing: following, lagging, retrying since when
and why, or stopped and why.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Protocol

from console.domain.backoff import retry_waits
from console.domain.follow import FollowState, FollowStatus
from console.domain.times import now_ms
from console.ingest.ingestor import IngestSummary

LAGGING_AFTER_S = 10.0  # a source further behind than this (or three of its intervals) shows as lagging
STOPPED_BY_REQUEST = "asked to stop"  # the reason of a follower that ended because it was told to


def store_failure(exc: BaseException) -> str:
    """A store error on one line: the driver's own first line (without SQLAlchemy's wrapping, the statement or
    the URL), or the error's kind and first line."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines() or [""]
    kind = "" if orig is not None else f"{type(exc).__name__}: "
    return f"store: {kind}{lines[0]}"


class Feed(Protocol):
    """A source the follower drives. `label` names it in full on one line (never a credential), `name` briefly."""

    label: str
    name: str
    summary: IngestSummary

    def open(self) -> None:
        """Check that the source can be read now (SourceError says why not); the follower needs no call."""
        ...

    def step(self, stop: threading.Event) -> bool:
        """Read what is new and store what is due; True when more is waiting (step again at once). Raises
        when the source or the store fails; what was read and not stored is kept for the next step."""
        ...

    def finish(self) -> None:
        """At stop: store what was read (one try; raises when the store refuses)."""
        ...

    def lag_s(self) -> float:
        """How far the store is behind the source, in seconds."""
        ...

    def reason(self, exc: BaseException) -> str:
        """One line saying what failed, naming the source (never a credential)."""
        ...

    def close(self) -> None: ...


class FollowReport:
    """Where a follower says what happens; the commands each show it their way (this one says nothing)."""

    def on_failed(self, status: FollowStatus, retry_in_s: float | None) -> None:
        """A failure streak began, or brought a reason not reported yet in it (`status.reason`)."""

    def on_recovered(self, status: FollowStatus, failed_since_ms: int, tries: int) -> None:
        """The source is read and stored again after `tries` failed tries since `failed_since_ms`."""

    def on_stored(self, status: FollowStatus, summary: IngestSummary) -> None:
        """A step counted new lines or rows (stored, duplicates, rejected)."""

    def on_stopped(self, status: FollowStatus) -> None:
        """The follower ended (`status.reason` says why)."""


class Follower:
    """One feed followed until `stop` is set: every `interval_s` when idle, at once while there is more."""

    def __init__(
        self,
        feed: Feed,
        interval_s: float,
        retry_s: float | None = None,
        report: FollowReport | None = None,
    ) -> None:
        self.feed = feed
        self.label = feed.label
        self.interval_s = interval_s
        self.retry_s = retry_s if retry_s is not None else max(interval_s, 0.05)
        self.report = report or FollowReport()
        self.thread: threading.Thread | None = None
        self._since_ms: int | None = None  # when the current failure streak began
        self._tries = 0
        self._reason = ""
        self._shown: set[str] = set()  # reasons reported in the current streak
        self._stopped: str | None = None
        self._waits: Iterator[float] | None = None

    def status(self) -> FollowStatus:
        """What the follower is doing now (safe to call from any thread)."""
        since, reason, stopped = self._since_ms, self._reason, self._stopped
        lag = self.feed.lag_s()
        if stopped is not None:
            state, reason = FollowState.STOPPED, stopped
        elif since is not None:
            state = FollowState.RETRYING
        elif lag > max(LAGGING_AFTER_S, 3 * self.interval_s):
            state = FollowState.LAGGING
        else:
            state, reason = FollowState.FOLLOWING, ""
        return FollowStatus(self.label, self.feed.name, state, lag, since, self._tries, reason)

    def start(self, stop: threading.Event) -> None:
        """Follow in a thread of its own until `stop` is set."""
        self.thread = threading.Thread(
            target=self.run, args=(stop,), name=f"follow {self.label}", daemon=True
        )
        self.thread.start()

    def run(self, stop: threading.Event) -> None:
        """Follow until `stop` is set, then store what was read; never raises."""
        ended = STOPPED_BY_REQUEST
        try:
            while not stop.is_set():
                _, wait = self._step(stop)
                if wait:
                    stop.wait(wait)
            try:
                self.feed.finish()
            except Exception as exc:
                ended = f"at stop, what was read could not be stored: {self._reason_of(exc)}"
        except BaseException as exc:  # not an Exception: the thread is being torn down
            ended = type(exc).__name__
            raise
        finally:
            self._close()
            self._stopped = ended
            self.report.on_stopped(self.status())

    def once(self) -> bool:
        """One step on its own (for `watch --once`); False (and reported) when it failed."""
        done = threading.Event()
        done.set()
        try:
            ok, _ = self._step(done, retry=False)
            if ok:
                self.feed.finish()
            return ok
        except Exception as exc:
            self._failed(self._reason_of(exc), None)
            return False
        finally:
            self._close()

    def _step(self, stop: threading.Event, retry: bool = True) -> tuple[bool, float]:
        """One step: whether it succeeded, and how long to wait before the next (0 when more is waiting)."""
        summary = self.feed.summary
        before = (summary.accepted, summary.duplicates, summary.rejected, summary.skipped)
        try:
            more = self.feed.step(stop)
        except Exception as exc:
            if self._waits is None:
                self._waits = retry_waits(self.retry_s)
            wait = next(self._waits)
            self._failed(self._reason_of(exc), wait if retry else None)
            return False, wait
        self._waits = None
        if self._since_ms is not None:
            since, tries = self._since_ms, self._tries
            self._since_ms = None
            self._tries, self._reason, self._shown = 0, "", set()
            self.report.on_recovered(self.status(), since, tries)
        if (summary.accepted, summary.duplicates, summary.rejected, summary.skipped) != before:
            self.report.on_stored(self.status(), summary)
        return True, 0.0 if more else self.interval_s

    def _reason_of(self, exc: BaseException) -> str:
        try:
            return " ".join(self.feed.reason(exc).split())
        except Exception:  # describing must not end the follower either
            return f"{self.label}: {type(exc).__name__}"

    def _failed(self, reason: str, retry_in_s: float | None) -> None:
        self._reason = reason
        self._tries += 1
        if self._since_ms is None:
            self._since_ms = now_ms()
        if reason not in self._shown:
            self._shown.add(reason)
            self.report.on_failed(self.status(), retry_in_s)

    def _close(self) -> None:
        with contextlib.suppress(Exception):  # nothing left to do with a source that will not close
            self.feed.close()


class Following:
    """Several followers run together, each in a thread, until `stop()` (or until `stop_event` is set)."""

    def __init__(self, followers: Sequence[Follower], stop_event: threading.Event | None = None) -> None:
        self.followers = list(followers)
        self.stop_event = stop_event or threading.Event()

    def start(self) -> None:
        for follower in self.followers:
            follower.start(self.stop_event)

    def statuses(self) -> list[FollowStatus]:
        return [f.status() for f in self.followers]

    def stop(self, timeout_s: float | None = 30.0) -> list[Follower]:
        """Stop them and wait up to `timeout_s` in all (None: as long as they take); those still running."""
        self.stop_event.set()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for follower in self.followers:
            if follower.thread is not None:
                follower.thread.join(None if deadline is None else max(0.05, deadline - time.monotonic()))
        return [f for f in self.followers if f.thread is not None and f.thread.is_alive()]
