"""Small builders for log lines and command runs shared by the tests."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner, Result

from console.cli import cli
from console.sandbox.sample import generate
from console.store import open_store

ROOT = Path(__file__).resolve().parent.parent

# `--map` file for the home-grown JSON lines the mapped-log tests write: `{"msg": "webhook.attempt", "ts": epoch s,
# "webhook": {...}, "http": {...}, "error": ...}`; paths a line lacks read as absent.
HOME_GROWN_MAPPING = """
[match]
path = "msg"
equals = "webhook.attempt"

[fields]
event_id = "webhook.id"
event_type = "webhook.type"
endpoint_id = "webhook.endpoint"
endpoint_url = "webhook.url"
attempt = "webhook.try"
attempted_at = { path = "ts", format = "epoch_s" }
status_code = "http.status"
latency_ms = { path = "http.duration_s", scale = 1000 }
error = "error"
trigger = "webhook.trigger"
payload = "webhook.body"
request_headers = "http.request_headers"
response_body = "http.response"
"""


def log_line(
    event_id: str = "evt_1", endpoint_id: str = "ep_a", attempt: int = 1, **fields: Any
) -> dict[str, Any]:
    """A valid delivery-log line; `payload` is included on attempt 1 unless given."""
    line: dict[str, Any] = {
        "event_id": event_id,
        "event_type": fields.pop("event_type", "reward.redeemed"),
        "endpoint_id": endpoint_id,
        "attempt": attempt,
        "attempted_at": fields.pop("attempted_at", "2026-05-05T10:00:00Z"),
        "status_code": fields.pop("status_code", 200),
        "latency_ms": fields.pop("latency_ms", 100.0),
    }
    if attempt == 1 and "payload" not in fields:
        line["payload"] = {
            "event": line["event_type"],
            "event_id": event_id,
            "user_id": "user_678",
            "reward_id": "reward_999",
            "amount": 500,
            "currency": "INR",
            "status": "success",
            "timestamp": "2026-05-05T10:00:00Z",
        }
    line.update(fields)
    return {k: v for k, v in line.items() if v is not ...}


def write_jsonl(path: Path, lines: Iterable[dict[str, Any] | bytes]) -> Path:
    with path.open("wb") as out:
        for line in lines:
            out.write((line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n")
    return path


def run(*args: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run the command line in-process (click's runner); stdout and stderr kept apart."""
    runner = CliRunner()
    return runner.invoke(cli, list(args), input=stdin, env=env, catch_exceptions=False)


def replay_cli(store: Any, config: Path | str, *args: str) -> Result:
    """`console --db <store> --endpoints <config> replay ...`, run in-process like `run`."""
    return run("--db", store.url, "--endpoints", str(config), "replay", *args)


def start_replay(store: Any, config: Path | str, *args: str) -> subprocess.Popen[bytes]:
    """`python -m console ... replay ...` started as a real process (to be signalled), output piped."""
    command = [
        sys.executable,
        "-m",
        "console",
        "--db",
        store.url,
        "--endpoints",
        str(config),
        "replay",
        *args,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})


def run_process(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m console ...` as a real process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin.decode() if stdin is not None else None,
    )


def table_count(store: Any, table: str) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())


def item_states(store: Any) -> dict[str, str]:
    """Every replay item's state by event id."""
    with store.read() as conn:
        return dict(conn.exec_driver_sql("SELECT event_id, state FROM replay_item").fetchall())


def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Poll `condition` every 50 ms until it is true; AssertionError once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def stored_attempts(db: Path) -> int:
    """The attempts in the SQLite store file `db`, or -1 while another process has not made it yet."""
    if not db.exists():
        return -1
    try:
        probe = open_store(str(db))
    except Exception:
        return -1
    try:
        return table_count(probe, "delivery_attempt")
    finally:
        probe.close()


SCRAMBLED_END = 1_793_491_200_000  # 2026-11-01T00:00:00Z


def scrambled_log(tmp_path: Path, seed: int, end_ms: int = SCRAMBLED_END) -> Path:
    """A generated log in random order with some lines twice (so most batches fall back from the bulk insert):
    each event's payload line still comes first among its lines, so every line is accepted or counted a
    duplicate."""
    sample = generate(tmp_path / "sample", events=300, days=1, seed=seed, end_ms=end_ms).path
    lines = sample.read_bytes().splitlines()
    rng = random.Random(seed)
    lines += rng.sample(lines, len(lines) // 10)
    rng.shuffle(lines)
    slots: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        slots.setdefault(orjson.loads(line)["event_id"], []).append(i)
    for positions in slots.values():
        first = next(i for i in positions if b'"payload"' in lines[i])
        lines[positions[0]], lines[first] = lines[first], lines[positions[0]]
    out = tmp_path / "scrambled.jsonl"
    out.write_bytes(b"\n".join(lines) + b"\n")
    return out
