"""A loopback notification receiver and traffic builders for the watch tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from tests.helpers import log_line


class Receiver:
    """Records every POST (path, headers, JSON body); answers `status` (and `retry_after` if set)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self.status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                with receiver.lock:
                    status = receiver.status
                    if 200 <= status < 300:
                        receiver.received.append((self.path, dict(self.headers.items()), orjson.loads(body)))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alerts"

    def bodies(self) -> list[Any]:
        with self.lock:
            return [body for _, _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiving(port: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(port)
    try:
        yield receiver
    finally:
        receiver.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, step: float = 0.05) -> bool:
    """Poll `condition` until true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def recent(seconds_ago: float = 20.0) -> str:
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_counter = iter(range(1, 10**9))


def traffic(
    endpoint_id: str, count: int, status: int | None, seconds_ago: float = 20.0, **fields: Any
) -> list[bytes]:
    """`count` first attempts at an endpoint a few seconds ago, each a new event, all with one status."""
    lines = []
    for _ in range(count):
        n = next(_counter)
        line = log_line(
            f"evt_{endpoint_id}_{n}_{time.monotonic_ns()}",
            endpoint_id,
            attempted_at=recent(seconds_ago),
            status_code=status,
            **fields,
        )
        if status is None:
            line.setdefault("error", "connection refused")
            line["latency_ms"] = None
        lines.append(orjson.dumps(line) + b"\n")
    return lines


def append(path: Path, lines: list[bytes]) -> None:
    with path.open("ab") as out:
        out.write(b"".join(lines))


def alerts_toml(url: str, *, extra: str = "", secret: bool = False) -> str:
    channel = f'[[channel]]\nkind = "webhook"\nurl = "{url}"\n'
    if secret:
        channel += 'secret = "env:ALERT_SECRET"\n'
    return (
        '[[rule]]\nname = "endpoint-down"\nendpoint = "*"\nmetric = "success_rate"\nbelow = 0.5\n'
        'window = "5m"\nmin_attempts = 5\n\n' + extra + channel
    )
