"""The store writes of a read pass, made in order by a thread of their own while the next batch is read.

Reading a batch waits on the dispatcher's database (its query, its rank and event look-ups) and writing one waits
on the store; one after the other, each waits on its own. Here a batch's write goes on while the next batch is
read and converted: one write at a time, in the order given, each with the cursor it covers, so the store never
holds a cursor ahead of the rows it has. What follows a write (counting, reporting its rejects) runs in the
reading thread, when the next write is handed over or the pass ends; a failed write raises there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any


class OrderedWrites:
    """Writes handed over one at a time (`submit`), done by one thread, in order; `drain` at the end of a pass."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._under_way: tuple[Future[Any], Callable[[Any], None]] | None = None

    def submit(self, write: Callable[[], Any], then: Callable[[Any], None]) -> None:
        """Start `write` once the write under way has ended (its `then` run, its error raised here); `then`
        gets what `write` returns, in this thread, when the next write is handed over or at `drain`."""
        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="hookconsole-store-write")
        self._under_way = (self._pool.submit(write), then)

    def wait(self) -> None:
        """Wait for the write under way, if any, and run its `then`; its error raises here."""
        if self._under_way is None:
            return
        future, then = self._under_way
        self._under_way = None
        then(future.result())

    def drain(self, failing: bool) -> None:
        """End the pass's writes: wait for the one under way and end the thread. While `failing` (an error is
        on its way up already), nothing here raises over it; a write that committed still counts."""
        try:
            if not failing:
                self.wait()
            elif self._under_way is not None:
                future, then = self._under_way
                self._under_way = None
                wait_for([future])
                if future.exception() is None:
                    with contextlib.suppress(Exception):
                        then(future.result())
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
