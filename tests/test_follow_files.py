"""Following files that do not just grow: a named pipe (FIFO) written by other processes, and a file written
over in place with longer content (the follower must not resume mid-line at its old offset)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from console.ingest.follow import follow
from console.ingest.service import IngestSummary, Reject, RejectSink
from console.store import Store
from tests.helpers import log_line, stored_attempts, table_count, wait_until, write_jsonl


def _line(event_id: str, **fields: Any) -> bytes:
    return orjson.dumps(log_line(event_id, **fields)) + b"\n"


@contextmanager
def _following(store: Store, path: Path, rejects: list[Reject]) -> Iterator[list[IngestSummary]]:
    """`follow` in a thread for the block; the totals are in the list once it has stopped."""
    stop = threading.Event()
    results: list[IngestSummary] = []
    sink = RejectSink(on_reject=rejects.append)

    def run() -> None:
        results.append(follow(store, str(path), stop, rejects=sink, poll_s=0.02, flush_s=0.05))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        yield results
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()


def test_a_file_written_over_with_longer_content_is_read_again_from_its_start(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """The same first line (over 256 bytes), then other lines: the old offset falls inside a new line."""
    log = write_jsonl(tmp_path / "live.jsonl", [log_line("evt_1"), log_line("evt_2", endpoint_id="ep_b")])
    rejects: list[Reject] = []
    with _following(sqlite_store, log, rejects) as results:
        wait_until(lambda: table_count(sqlite_store, "delivery_attempt") == 2)
        time.sleep(0.1)  # at the end of the file, waiting for more
        longer = _line("evt_1") + _line("evt_22", endpoint_id="ep_bb") + _line("evt_3") + _line("evt_4")
        fd = os.open(log, os.O_WRONLY)  # written over from the start in one write, never shorter
        try:
            os.write(fd, longer)
        finally:
            os.close(fd)
        wait_until(lambda: table_count(sqlite_store, "delivery_attempt") == 5 or rejects)
        assert [r.message for r in rejects] == []
        time.sleep(0.1)
        # truncated and written again, longer and with a new first line: read from the start again
        log.write_bytes(_line("evt_5", endpoint_id="ep_ccc") + longer)
        wait_until(lambda: table_count(sqlite_store, "delivery_attempt") == 6 or rejects)
    [summary] = results
    assert [r.message for r in rejects] == []
    assert (summary.accepted, summary.rejected) == (6, 0)  # lines read again count as duplicates only
    assert (summary.duplicates, summary.lines) == (1 + 4, 2 + 4 + 5)


def _open_writer(path: Path, deadline: float) -> int:
    """The FIFO opened for writing once its reader has it open (never blocking: bounded by `deadline`)."""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
            continue
        os.set_blocking(fd, True)
        return fd


def test_ingest_follow_reads_a_named_pipe_across_writers(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    db = tmp_path / "fifo.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "console", "--db", str(db), "ingest", str(fifo), "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    failures: list[BaseException] = []

    def write(chunks: list[bytes]) -> None:
        try:
            fd = _open_writer(fifo, time.monotonic() + 30)
            try:
                for chunk in chunks:
                    os.write(fd, chunk)
                    time.sleep(0.05)
            finally:
                os.close(fd)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    try:
        third = _line("evt_3")
        first = threading.Thread(target=write, args=([_line("evt_1"), _line("evt_2")],))
        first.start()
        first.join(timeout=40)
        wait_until(lambda: stored_attempts(db) == 2 or process.poll() is not None)
        assert process.poll() is None, process.communicate(timeout=10)
        # a second writer, later, its line in two pieces: still read, whole
        second = threading.Thread(target=write, args=([third[:40], third[40:]],))
        second.start()
        second.join(timeout=40)
        wait_until(lambda: stored_attempts(db) == 3 or process.poll() is not None)
        assert failures == []
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    summary = orjson.loads(stdout)
    assert (summary["accepted"], summary["rejected"]) == (3, 0), stderr
