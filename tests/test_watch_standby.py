"""A standby `watch`: two real processes on one store, one active; SIGKILL the active one mid-outage and the
standby takes over within two evaluation intervals and sends the resolve, nothing twice (the receiver counts)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from console.store import open_store
from console.store.lease import StoreLease
from tests.watch_support import alerts_toml, append, free_port, receiving, traffic, wait_for

EVERY_S = 1.0
STANDBY = "standby: another watch holds the lease"
TOOK_OVER = "active: took over"


class WatchProcess:
    """`watch` in a child process serving metrics, its stderr lines collected as they come."""

    def __init__(self, cwd: Path, db: str, *args: str) -> None:
        self.port = free_port()
        every = f"{EVERY_S:g}s"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "console",
                "--db",
                db,
                "watch",
                *args,
                "--every",
                every,
                "--metrics-port",
                str(self.port),
            ],
            cwd=cwd,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append((time.monotonic(), line))

    @property
    def stderr(self) -> str:
        return "".join(line for _, line in self.lines)

    def said(self, text: str) -> float | None:
        """When a line holding `text` arrived (None if none did)."""
        return next((at for at, line in self.lines if text in line), None)

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def source_series(self) -> int:
        return sum(
            line.startswith("hookconsole_source_last_success_timestamp_seconds{")
            for line in self.metrics().splitlines()
        )

    def active_gauge(self) -> float:
        body = self.metrics()
        lines = [line for line in body.splitlines() if line.startswith("hookconsole_watch_active ")]
        assert len(lines) == 1, body
        return float(lines[0].split()[1])


@contextmanager
def watch_process(cwd: Path, db: str, *args: str) -> Iterator[WatchProcess]:
    watch = WatchProcess(cwd, db, *args)
    try:
        yield watch
    finally:
        if watch.process.poll() is None:
            watch.process.kill()
        watch.process.wait(timeout=10)


def test_lease_is_exclusive_and_dies_with_its_holder(store_url: str) -> None:
    """In one process: a second lease on the store is refused while the first is held, granted once released."""
    store = open_store(store_url)
    first, second = StoreLease(store), StoreLease(store)
    try:
        assert first.try_acquire() and first.held()
        assert not second.try_acquire() and not second.held()
        first.release()
        assert not first.held()
        assert second.try_acquire() and second.held()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()
        store.close()


@pytest.mark.postgres
def test_postgres_leases_are_per_schema(pg_schema_url: str) -> None:
    """Two stores in one PostgreSQL database (schemas of their own) each have a lease of their own."""
    import psycopg

    other = f"hc_test_{uuid.uuid4().hex[:12]}"
    base = pg_schema_url.split("?", 1)[0]
    libpq = base.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {other}")
    stores = [open_store(pg_schema_url), open_store(f"{base}?options=-csearch_path%3D{other}")]
    leases = [StoreLease(s) for s in stores]
    try:
        assert leases[0].try_acquire() and leases[1].try_acquire()
        assert not StoreLease(stores[1]).try_acquire()
    finally:
        for lease in leases:
            lease.release()
        for store in stores:
            store.close()
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {other} CASCADE")


def test_standby_takes_over_after_sigkill_and_sends_the_resolve_once(store_url: str, tmp_path: Path) -> None:
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"".join(traffic("ep_down", 8, 500)))
    with receiving() as receiver, ExitStack() as stack:
        (tmp_path / "alerts.toml").write_text(alerts_toml(receiver.url))
        first = stack.enter_context(watch_process(tmp_path, store_url, str(log)))
        assert wait_for(lambda: first.said("watching") is not None, timeout=60), first.stderr
        second = stack.enter_context(watch_process(tmp_path, store_url, str(log)))
        assert wait_for(lambda: second.said(STANDBY) is not None, timeout=60), second.stderr
        assert first.said("active: holds the lease") is not None, first.stderr
        assert (first.active_gauge(), second.active_gauge()) == (1.0, 0.0)
        assert (first.source_series(), second.source_series()) == (1, 0)  # a standby follows nothing

        # the outage fires; the active one sends it and marks it sent in the store (then logs "sent")
        assert wait_for(lambda: first.said("sent alert_") is not None, timeout=30), first.stderr
        assert [b["state"] for b in receiver.bodies()] == ["firing"]
        time.sleep(EVERY_S * 1.5)  # the standby tries meanwhile, and stays a standby
        assert second.said(TOOK_OVER) is None and second.active_gauge() == 0.0

        first.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        first.process.wait(timeout=10)
        append(log, traffic("ep_down", 20, 200))  # the endpoint comes back

        assert wait_for(lambda: second.said(TOOK_OVER) is not None, timeout=4 * EVERY_S), second.stderr
        took_over = second.said(TOOK_OVER)
        assert took_over is not None
        takeover_s = took_over - killed
        assert takeover_s <= 2 * EVERY_S, f"took over after {takeover_s:.2f}s"
        assert second.active_gauge() == 1.0 and second.source_series() == 1
        assert wait_for(lambda: len(receiver.bodies()) >= 2, timeout=30), second.stderr
        time.sleep(EVERY_S * 2)  # nothing more arrives
        bodies = receiver.bodies()
        assert [(b["rule"], b["endpoint"], b["state"]) for b in bodies] == [
            ("endpoint-down", "ep_down", "firing"),
            ("endpoint-down", "ep_down", "resolved"),
        ]
        assert bodies[0]["id"] != bodies[1]["id"] and bodies[0]["since"] == bodies[1]["since"]
        assert second.stderr.count(STANDBY) == 1 and second.stderr.count(TOOK_OVER) == 1

        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(timeout=10) == 0, second.stderr
    print(f"takeover {takeover_s:.2f}s after SIGKILL (every {EVERY_S:g}s)")


def test_once_refuses_while_another_watch_is_active(store_url: str, tmp_path: Path) -> None:
    """`watch --once` from cron beside a running service would notify twice: it says so and exits 1."""
    with watch_process(tmp_path, store_url) as running:
        assert wait_for(lambda: running.said("watching") is not None, timeout=60), running.stderr
        once = subprocess.run(
            [sys.executable, "-m", "console", "--db", store_url, "watch", "--once"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert once.returncode == 1 and "another watch holds the lease" in once.stderr, once.stderr
        assert len(once.stderr.strip().splitlines()) == 1, once.stderr
    free = subprocess.run(
        [sys.executable, "-m", "console", "--db", store_url, "watch", "--once"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert free.returncode == 0, free.stderr
