"""`hookconsole watch` as a real process on live appended traffic, notifying a real loopback receiver."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from standardwebhooks.webhooks import Webhook

from tests.watch_support import alerts_toml, append, receiving, traffic, wait_for

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
QUIET_S = 1.5  # how long "nothing more arrives" is watched for


class Watch:
    """`watch` in a child process, its stderr lines collected as they come."""

    def __init__(self, tmp_path: Path, db: str, args: tuple[str, ...], env: dict[str, str] | None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "console", "--db", db, "watch", *args, "--every", "0.2s"],
            cwd=tmp_path,
            env={**os.environ, **(env or {})},
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        assert wait_for(lambda: any("watching" in line for line in self.lines), timeout=60), self.stderr

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def stop(self) -> str:
        """SIGTERM, which must end watch cleanly within a few seconds."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=8)
        self.reader.join(timeout=2)
        assert time.monotonic() - started < 5, "SIGTERM should stop watch within a few seconds"
        assert self.process.returncode == 0, self.stderr
        return self.stderr


@contextmanager
def watching(tmp_path: Path, db: str, *args: str, env: dict[str, str] | None = None) -> Iterator[Watch]:
    watch = Watch(tmp_path, db, args, env)
    try:
        yield watch
    finally:
        if watch.process.poll() is None:
            watch.process.kill()
            watch.process.wait()


def _stop(watch: Watch) -> str:
    return watch.stop()


def test_fires_and_resolves_exactly_once_each_signed(tmp_path: Path) -> None:
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"".join(traffic("ep_ok", 10, 200)))
    with receiving() as receiver:
        (tmp_path / "alerts.toml").write_text(alerts_toml(receiver.url, secret=True))
        db = str(tmp_path / "store.db")
        with watching(tmp_path, db, str(log), env={"ALERT_SECRET": SECRET}) as process:
            time.sleep(QUIET_S)
            assert receiver.bodies() == [], "a healthy endpoint fires nothing"
            append(log, traffic("ep_down", 8, 503))
            assert wait_for(lambda: len(receiver.bodies()) >= 1)
            time.sleep(QUIET_S)
            bodies = receiver.bodies()
            assert [(b["rule"], b["endpoint"], b["state"]) for b in bodies] == [
                ("endpoint-down", "ep_down", "firing")
            ]
            firing = bodies[0]
            assert (
                firing["metric"] == "success_rate" and firing["value"] == 0.0 and firing["threshold"] == 0.5
            )
            assert (
                firing["window_s"] == 300 and firing["undelivered"] == 8 and firing["since"] and firing["at"]
            )
            assert "ep_down" in firing["summary"]
            # the endpoint comes back: successes outweigh the failures in the window
            append(log, traffic("ep_down", 20, 200))
            assert wait_for(lambda: len(receiver.bodies()) >= 2)
            time.sleep(QUIET_S)
            stderr = _stop(process)
        states = [b["state"] for b in receiver.bodies()]
        assert states == ["firing", "resolved"]
        resolved = receiver.bodies()[1]
        assert resolved["since"] == firing["since"] and resolved["value"] > 0.5
        # every notification is signed (Standard Webhooks) and its id is the webhook-id
        for _path, headers, body in receiver.received:
            verified = Webhook(SECRET).verify(orjson.dumps(body), {k.lower(): v for k, v in headers.items()})
            assert verified == body and headers["webhook-id"] == body["id"]
        assert "firing" in stderr and "resolved" in stderr
        assert SECRET not in stderr


def test_restart_sends_nothing_twice_and_remembers_a_resolution_while_down(tmp_path: Path) -> None:
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"".join(traffic("ep_down", 8, 500)))
    db = str(tmp_path / "store.db")
    with receiving() as receiver:
        (tmp_path / "alerts.toml").write_text(alerts_toml(receiver.url))
        with watching(tmp_path, db, str(log)) as process:
            assert wait_for(lambda: len(receiver.bodies()) >= 1)
            _stop(process)
        with watching(tmp_path, db, str(log)) as process:
            time.sleep(QUIET_S * 1.5)  # the restarted watch evaluates several times: still firing
            _stop(process)
        assert [b["state"] for b in receiver.bodies()] == ["firing"]
        # the endpoint recovers while watch is down; the next run resolves what it remembers as firing
        append(log, traffic("ep_down", 20, 200))
        with watching(tmp_path, db, str(log)) as process:
            assert wait_for(lambda: len(receiver.bodies()) >= 2)
            time.sleep(QUIET_S)
            _stop(process)
        assert [b["state"] for b in receiver.bodies()] == ["firing", "resolved"]


def test_watch_stops_on_sigterm_having_written_what_it_read(tmp_path: Path) -> None:
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"")
    db = str(tmp_path / "store.db")
    with watching(tmp_path, db, str(log)) as process:
        time.sleep(0.8)
        append(log, traffic("ep_a", 25, 200))
        time.sleep(0.3)
        _stop(process)
    stats = subprocess.run(
        [sys.executable, "-m", "console", "--db", db, "stats", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert orjson.loads(stats.stdout)["attempts"] == 25


def test_watch_started_by_demo_stops_when_the_demo_is_killed(tmp_path: Path) -> None:
    """`demo` runs `watch` as a child; killed demo (a closed terminal) must not leave it running."""
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"")
    pid_file = tmp_path / "watch.pid"
    # The stand-in demo: starts watch with the parent marker set to itself, writes its pid, then waits.
    parent_code = (
        "import os, subprocess, sys\n"
        "env = {**os.environ, 'HOOKCONSOLE_PARENT_PID': str(os.getpid())}\n"
        f"child = subprocess.Popen([sys.executable, '-m', 'console', '--db', {str(tmp_path / 's.db')!r}, 'watch',"
        f" {str(log)!r}, '--every', '0.2s'], env=env, start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "child.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", timeout=30)
        child_pid = int(pid_file.read_text())
        assert wait_for(lambda: (tmp_path / "s.db").exists(), timeout=30)
        time.sleep(1.0)  # watch is up and its parent check running
        parent.kill()
        parent.wait(timeout=10)

        def gone() -> bool:
            try:
                os.kill(child_pid, 0)
            except ProcessLookupError:
                return True
            # a zombie is gone too: reaped by init once orphaned
            try:
                with open(f"/proc/{child_pid}/stat") as stat:
                    return stat.read().split()[2] == "Z"
            except FileNotFoundError:
                return True

        assert wait_for(gone, timeout=10), "watch outlived the demo that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
        if pid_file.exists() and pid_file.read_text().strip():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
