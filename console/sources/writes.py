"""The store writes of a read pass, made one at a time and in order, each in a thread of its own, while the
next batch is read.

Reading a batch waits on the dispatcher's database (its query, its rank and event look-ups) and writing one waits
on the store; one after the other, each waits on its own. Here a batch's write goes on while the next batch is
read and converted: one write at a time, in the order given, each with the cursor it covers, so the store never
holds a cursor ahead of the rows it has. What follows a write (counting, reporting its rejects) runs in the
reading thread, when the next write is handed over or the pass ends; a failed write raises there.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any


class _Write(threading.Thread):
    """One write, in a thread of its own (a daemon, like the followers that read: an exiting process does not
    wait for it; the store rolls an unfinished transaction back)."""

    def __init__(self, write: Callable[[], Any], then: Callable[[Any], None]) -> None:
        super().__init__(name="hookconsole-store-write", daemon=True)
        self.write = write
        self.then = then
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.write()
        except BaseException as exc:
            self.error = exc


class OrderedWrites:
    """Writes handed over one at a time (`submit`), each started once the one before it has ended; `drain` at
    the end of a pass."""

    def __init__(self) -> None:
        self._under_way: _Write | None = None

    def submit(self, write: Callable[[], Any], then: Callable[[Any], None]) -> None:
        """Start `write` once the write under way has ended (its `then` run, its error raised here); `then`
        gets what `write` returns, in this thread, when the next write is handed over or at `drain`."""
        self.wait()
        self._under_way = _Write(write, then)
        self._under_way.start()

    def wait(self) -> None:
        """Wait for the write under way, if any, and run its `then`; its error raises here."""
        under_way, self._under_way = self._under_way, None
        if under_way is None:
            return
        under_way.join()
        if under_way.error is not None:
            raise under_way.error
        under_way.then(under_way.result)

    def drain(self, failing: bool) -> None:
        """End the pass's writes: wait for the one under way. While `failing` (an error is on its way up
        already), nothing here raises over it; a write that committed still counts."""
        if not failing:
            self.wait()
            return
        with contextlib.suppress(BaseException):
            self.wait()
