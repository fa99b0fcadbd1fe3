"""`hookconsole demo`: a demo store from fresh sample data, three sandbox receivers (healthy, flaky, down for the
first minutes), the traffic simulator, and the console on top; quitting stops everything it started."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from console.domain.times import now_ms
from console.ingest.service import ingest_sources
from console.sandbox.profiles import PROFILES
from console.sandbox.sample import generate
from console.settings import PARENT_PID
from console.store import open_store

HEALTHY = ("ep_payments", "ep_inventory", "ep_analytics", "ep_fraud")
FLAKY = ("ep_crm",)
DOWN = ("ep_giftcards",)
DOWN_FOR = "3m"
WATCH_EVERY = "5s"
PARENT_ENV = PARENT_PID


@dataclass(frozen=True)
class DemoSetup:
    folder: Path
    db: Path
    endpoints: Path
    ports: dict[str, int]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(folder: Path, events: int = 8000, days: float = 7, seed: int = 7) -> DemoSetup:
    """A fresh demo folder: sample log ending now, endpoints.toml on loopback ports, the ingested store."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "logs").mkdir(parents=True)
    generate(folder / "sample", events=events, days=days, seed=seed, end_ms=now_ms())
    ports = {"healthy": free_port(), "flaky": free_port(), "down": free_port()}
    role = {
        **dict.fromkeys(HEALTHY, "healthy"),
        **dict.fromkeys(FLAKY, "flaky"),
        **dict.fromkeys(DOWN, "down"),
    }
    blocks = ["# Demo endpoints: sandbox receivers on loopback, sandbox secrets from the sample.\n"]
    for profile in PROFILES:
        port = ports[role[profile.id]]
        blocks.append(
            f'[[endpoint]]\nid = "{profile.id}"\nname = "{profile.name}"\nurl = "http://127.0.0.1:{port}/hooks/{profile.id}"\n'
            f'scheme = "{profile.scheme}"\nsecret = "file:sample/secrets/{profile.id}.secret"\ntimeout_s = 5\nmax_tries = 4\n'
        )
    endpoints = folder / "endpoints.toml"
    endpoints.write_text("\n".join(blocks))
    write_alerts(folder)
    db = folder / "demo.db"
    store = open_store(str(db))
    try:
        ingest_sources(store, [str(folder / "sample" / "deliveries.jsonl")])
    finally:
        store.close()
    return DemoSetup(folder, db, endpoints, ports)


def write_alerts(folder: Path) -> Path:
    """The demo's alerts.toml: an endpoint-down rule whose notifications a command appends to logs/alerts.jsonl
    (the endpoint down for the first minutes fires, then resolves once it answers again)."""
    sink = folder / "logs" / "alerts.jsonl"
    script = f"import sys; open({str(sink)!r}, 'ab').write(sys.stdin.buffer.read() + b'\\n')"
    path = folder / "alerts.toml"
    path.write_text(
        "# Demo alert rules (docs/alerts.md); `watch` logs to logs/watch.log, notifications go to logs/alerts.jsonl.\n"
        '[[rule]]\nname = "endpoint-down"\nmetric = "success_rate"\nbelow = 0.5\nwindow = "2m"\nmin_attempts = 5\n\n'
        f'[[channel]]\nkind = "command"\nname = "demo-log"\ncommand = [{_toml_string(sys.executable)}, "-c", {_toml_string(script)}]\n'
    )
    return path


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "console", *args]


def _start(args: list[str], log: Path) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    out = log.open("wb")
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    process = subprocess.Popen(
        args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
    )
    return process, out


def _wait_listening(log: Path, process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if re.search(r"listening on http://", log.read_text(errors="replace")):
            return
        if process.poll() is not None:
            raise RuntimeError(f"a demo receiver stopped at start: {log.read_text(errors='replace')[-500:]}")
        time.sleep(0.05)
    raise RuntimeError(f"a demo receiver did not start in {timeout_s:g}s (see {log})")


@contextmanager
def sandbox(setup: DemoSetup, rate: float = 3.0) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Receivers and the simulator as child processes, stopped (and their ports freed) on the way out."""
    children: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
    base = ["--endpoints", str(setup.endpoints)]
    receivers = {
        "healthy": ["--latency-ms", "25", *(a for e in HEALTHY for a in ("--endpoint", e))],
        "flaky": [
            "--latency-ms",
            "150",
            "--fail-rate",
            "0.3",
            "--timeout-rate",
            "0.02",
            "--retry-after",
            "2",
            *(a for e in FLAKY for a in ("--endpoint", e)),
        ],
        # once it is back it answers as fast as its week of history did, so a replay's drain estimate (read from
        # that history) holds in the demo too
        "down": [
            "--down-for",
            DOWN_FOR,
            "--latency-ms",
            f"{min(p.p50_ms for p in PROFILES if p.id in DOWN):g}",
            *(a for e in DOWN for a in ("--endpoint", e)),
        ],
    }
    try:
        for name, options in receivers.items():
            log = setup.folder / "logs" / f"receiver-{name}.log"
            child = _start(_command(*base, "receiver", "--port", str(setup.ports[name]), *options), log)
            children.append(child)
            _wait_listening(log, child[0])
        children.append(
            _start(
                _command("--db", str(setup.db), *base, "simulate", "--rate", str(rate)),
                setup.folder / "logs" / "simulator.log",
            )
        )
        children.append(
            _start(
                _command(
                    "--db",
                    str(setup.db),
                    "watch",
                    "--alerts",
                    str(setup.folder / "alerts.toml"),
                    "--every",
                    WATCH_EVERY,
                ),
                setup.folder / "logs" / "watch.log",
            )
        )
        yield [process for process, _ in children]
    finally:
        stop_all([process for process, _ in children])
        for _, out in children:
            out.close()


def stop_all(processes: list[subprocess.Popen[bytes]], timeout_s: float = 5) -> None:
    """SIGTERM each child, wait, then SIGKILL what is left."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def run_demo(folder: Path, refresh_s: float = 2.0) -> None:
    """Set up, start the sandbox, run the console in the foreground; everything stops when it quits."""
    print(f"hookconsole demo: generating a week of sample traffic into {folder} ...", flush=True)
    setup = prepare(folder)
    print("starting sandbox receivers and the simulator ...", flush=True)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with sandbox(setup):
            from console.tui.app import make_app

            make_app(str(setup.db), str(setup.endpoints), refresh_s).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"demo stopped; its store stays in {setup.db} ({again_command(setup.db, setup.endpoints)})")


def own_command(argv0: str | None = None) -> str:
    """A shell command that runs this hookconsole from the current folder: `hookconsole` when that is the one on
    PATH, else the path of the running executable (`.venv/bin/hookconsole`), else `python -m console`."""
    script = Path(sys.argv[0] if argv0 is None else argv0)
    if script.name != "hookconsole" or not script.is_file():
        return f"{shlex.quote(sys.executable)} -m console"
    on_path = shutil.which("hookconsole")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "hookconsole"
    if script.is_absolute() and script.is_relative_to(Path.cwd()):
        script = script.relative_to(Path.cwd())
    shown = str(script) if script.is_absolute() or "/" in str(script) else f"./{script}"
    return shlex.quote(shown)


def again_command(db: Path, endpoints: Path, argv0: str | None = None) -> str:
    """The command that opens the demo's store in the console again, with its endpoints (so a replay from
    it finds their URLs and secrets)."""
    return f"{own_command(argv0)} --db {shlex.quote(str(db))} --endpoints {shlex.quote(str(endpoints))} tui"
