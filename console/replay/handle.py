"""The handle a caller keeps for one run of a replay job: it runs the job and stops it from any thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from console.domain.replay import JobView
from console.replay.runner import JobRunner


class JobHandle:
    """`await run()` sends the job's pending items (once); `stop()` ends the run from any thread (Ctrl-C, the
    console's `x`), even before it started. The first stop sends nothing more but lets the requests in flight
    end and records them; a second abandons them at once (their items go back to pending). Either way the job
    ends interrupted, its unsent items pending, and can be resumed."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self._asked = threading.Event()
        self._abandon = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the run is on, while it runs

    @property
    def job_id(self) -> str:
        return self.runner.job_id

    @property
    def stopped(self) -> bool:
        """A stop was asked for: the run ends, or has ended, early."""
        return self._asked.is_set()

    @property
    def abandoning(self) -> bool:
        """A second stop: the requests in flight are abandoned."""
        return self._abandon.is_set()

    @property
    def in_flight(self) -> int:
        return sum(e.in_flight for e in self.runner.progress.endpoints.values())

    def stop(self) -> None:
        # Set first, then look for the loop (run() does the reverse): one of the two sees the other.
        (self._abandon if self._asked.is_set() else self._asked).set()
        event = self.runner.stop if self._abandon.is_set() else self.runner.drain
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the run has just ended and its loop closed
                loop.call_soon_threadsafe(event.set)

    async def run(self) -> JobView:
        self._loop = asyncio.get_running_loop()
        try:
            if self._asked.is_set():
                self.runner.drain.set()
            if self._abandon.is_set():
                self.runner.stop.set()
            return await self.runner.run()
        finally:
            self._loop = None
