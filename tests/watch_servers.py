"""Loopback HTTP servers that answer badly, for the channel tests: a body dripped a byte at a time, a huge body."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class BadAnswer:
    """Answers every POST 200 with a body of `length` bytes announced, written `chunk` bytes every `pause_s`
    seconds, `limit` bytes at most; records how many bytes each answer got written before the client left."""

    def __init__(self, chunk: int, pause_s: float, limit: int, length: int | None = None) -> None:
        self.written: list[int] = []  # one entry per finished answer
        self.started = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server.started.set()
                self.send_response(200)
                self.send_header("content-length", str(length if length is not None else limit))
                self.end_headers()
                sent = 0
                block = b"x" * chunk
                try:
                    self.wfile.flush()
                    while sent < limit:
                        self.wfile.write(block)
                        self.wfile.flush()
                        sent += chunk
                        if pause_s:
                            time.sleep(pause_s)
                except OSError:
                    pass
                finally:
                    with server.lock:
                        server.written.append(sent)
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alerts"

    def finished(self) -> list[int]:
        with self.lock:
            return list(self.written)


@contextmanager
def answering(chunk: int, pause_s: float, limit: int, length: int | None = None) -> Iterator[BadAnswer]:
    server = BadAnswer(chunk, pause_s, limit, length)
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
