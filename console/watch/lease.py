"""Which `watch` on a store is active: the one holding the store's lease (console/store/lease.py).

Any number of `watch` processes may run on one store; one holds the lease and follows, evaluates and notifies,
the others are standbys that serve /metrics and try the lease every evaluation interval. The lease dies with
its holder (a SIGKILL too), so a standby takes over within an interval; the alert state and the outbox are in
the store, so the new active one goes on where the old one stopped.
"""

from __future__ import annotations

import threading

from console.store import Store, StoreError
from console.store.lease import StoreLease
from console.watch.logs import Log


class WatchLease:
    """The lease as `watch` uses it: `active` is what /metrics shows."""

    def __init__(self, store: Store, log: Log) -> None:
        self.lease = StoreLease(store)
        self.log = log
        self.active = False
        self._failure: str | None = None

    def try_once(self) -> bool:
        """One non-blocking try; a store that does not answer counts as not held (said once, until it does)."""
        try:
            got = self.lease.try_acquire()
        except StoreError:
            raise  # the lease file cannot be made: nothing to wait for
        except Exception as exc:  # PostgreSQL down or restarting: try again next interval
            text = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if text != self._failure:
                self.log.error("lease_failed", f"cannot try the lease ({self.lease.where}): {text}")
            self._failure = text
            return False
        self._failure = None
        self.active = got
        return got

    def wait(self, stop: threading.Event, every_s: float) -> bool:
        """Take the lease, trying every `every_s`; True once held, False when `stop` is set first."""
        waited = False
        while not stop.is_set():
            if self.try_once():
                if waited:
                    self.log.info("lease_taken", f"active: took over ({self.lease.where})")
                else:
                    self.log.info("lease_held", f"active: holds the lease ({self.lease.where})")
                return True
            if not waited:
                self.log.info(
                    "standby",
                    f"standby: another watch holds the lease ({self.lease.where}); trying every {every_s:g}s",
                )
                waited = True
            stop.wait(every_s)
        return False

    def still_held(self) -> bool:
        """False (and said) once the lease is lost, a PostgreSQL session dropped, say: another may hold it."""
        if self.lease.held():
            return True
        self.active = False
        self.log.error("lease_lost", f"lost the lease ({self.lease.where}); stopping so a standby takes over")
        return False

    def release(self) -> None:
        self.lease.release()
        self.active = False
