"""Bulk ingest into SQLite may carry a batch's attempts as a database image (`StagedRows`) that the writer
copies with one INSERT … SELECT; staged or not, the store must come out the same, exactly."""

from __future__ import annotations

import math
import multiprocessing
import pickle
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.ingest import parallel, service
from console.ingest.ingestor import Reject, RejectSink
from console.sandbox.sample import generate
from console.store import dialect, open_store
from console.store.recount import stored_state, verify_derived_state
from console.store.staged import StagedRows, where_first_in
from tests.helpers import SCRAMBLED_END as END
from tests.helpers import scrambled_log

ROWS = [
    ("evt_1", "reward.redeemed", "ep_a", 1, 1_792_886_404_390, "success", 200, 31.4, None, "scheduled"),
    ("évt_2 ✓", "t", "ep_b", 2**62, -5, "timeout", None, 1e-300, "x" * 5000, "manual"),
    ("evt_3", "t", "ep_a", 0, 0, "http_error", 599, -0.0, "", "scheduled"),
    ("evt_1", "t", "ep_c", 3, 7, "network_error", None, None, "a\U0001f600b", "scheduled"),
]


def test_staged_rows_give_back_every_value_with_its_type() -> None:
    staged = StagedRows.build(ROWS)
    assert staged is not None and len(staged) == 4
    again = pickle.loads(pickle.dumps(staged))
    assert again.rows() == ROWS
    for got, given in zip(again, ROWS, strict=True):
        assert [type(v) for v in got] == [type(v) for v in given]
    assert math.copysign(1, again[2][7]) == -1  # -0.0 stays negative zero
    for rows in (again, pickle.loads(pickle.dumps(staged)), ROWS):  # decoded, searched in its image, plain
        assert where_first_in(rows, {"evt_1"}) == [(0, ROWS[0]), (3, ROWS[3])]
        assert where_first_in(rows, {"nope"}) == []


@pytest.mark.parametrize("bad", [("a\ud800b", 1), ("a", 2**64)], ids=["lone-surrogate", "int-beyond-64-bits"])
def test_rows_sqlite_cannot_take_are_not_staged(bad: tuple[Any, ...]) -> None:
    assert StagedRows.build([("ok", 1), bad]) is None
    assert StagedRows.build([]) is None


def test_the_writer_is_behind_while_a_sent_batch_waits() -> None:
    queue = multiprocessing.get_context("fork").Queue(maxsize=3)
    try:
        assert not parallel._writer_behind(queue)
        queue.put("batch")
        deadline = time.monotonic() + 5
        while not parallel._writer_behind(queue) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert parallel._writer_behind(queue)
        queue.get(timeout=5)
        assert not parallel._writer_behind(queue)
    finally:
        queue.close()


def _hostile_tail(log: Path) -> list[bytes]:
    """Lines the store itself refuses or counts twice: an attempt of an event never stored (no payload), one
    naming another type than the stored one, and a repeat of the log's first line."""
    first = log.read_bytes().splitlines()[0]
    record = orjson.loads(first)
    unknown = {**record, "event_id": "evt_never_stored", "attempt": 1}
    unknown.pop("payload", None)
    retyped = {**record, "event_type": "reward.reversed", "attempt": 90}
    retyped.pop("payload", None)
    return [orjson.dumps(unknown), orjson.dumps(retyped), first]


def _ingest(db: Path, logs: list[Path], batch_size: int) -> tuple[list[Any], list[Reject], dict[str, Any]]:
    store = open_store(str(db))
    rejects: list[Reject] = []
    try:
        summaries = [
            service.ingest_sources(
                store, [str(log)], batch_size=batch_size, rejects=RejectSink(on_reject=rejects.append)
            )
            for log in logs
        ]
        assert verify_derived_state(store) == []
        return [(s.accepted, s.duplicates, s.rejected) for s in summaries], rejects, stored_state(store)
    finally:
        store.close()


@pytest.mark.parametrize("batch_size", [7, 97, 5000])
def test_staged_and_plain_batches_give_the_same_exact_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    monkeypatch.delenv("HOOKCONSOLE_INGEST_PROCESSES", raising=False)
    monkeypatch.setattr(service, "PARALLEL_MIN_BYTES", 0)
    log = scrambled_log(tmp_path, seed=batch_size)
    tail = _hostile_tail(log)
    with log.open("ab") as out:
        out.write(b"\n".join(tail) + b"\n")
    logs = [log, log]  # the second time every line is stored already
    results = {}
    for staging in ("never", "always"):
        monkeypatch.setattr(parallel, "STAGING", staging)
        results[staging] = _ingest(tmp_path / f"{staging}.db", logs, batch_size)
    plain, staged = results["never"], results["always"]
    assert staged == plain
    counts, rejects, _ = staged
    assert counts[0][0] > 1000 and counts[0][1] > 0 and counts[0][2] == 2
    assert counts[1][0] == 0 and counts[1][2] == 2
    assert [r.raw.rstrip(b"\n") for r in rejects] == tail[:2] * 2  # each with its own line's bytes
    assert "no stored payload" in rejects[0].reason and "does not match" in rejects[1].reason


def test_an_in_order_log_is_staged_and_never_decoded_by_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOKCONSOLE_INGEST_PROCESSES", raising=False)
    monkeypatch.setattr(service, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "STAGING", "always")
    staged_inserts: list[int] = []
    real_insert = dialect.Dialect.bulk_insert

    def counting(self: Any, conn: Any, table: str, columns: Any, rows: Any) -> None:
        if isinstance(rows, StagedRows):
            staged_inserts.append(len(rows))
        real_insert(self, conn, table, columns, rows)

    def refused(self: StagedRows) -> list[tuple[Any, ...]]:
        raise AssertionError("the writer decoded staged rows")

    monkeypatch.setattr(dialect.Dialect, "bulk_insert", counting)
    monkeypatch.setattr(StagedRows, "rows", refused)
    log = generate(tmp_path / "sample", events=300, days=1, seed=3, end_ms=END).path
    summary, _, _ = _ingest(tmp_path / "store.db", [log], 400)
    assert sum(staged_inserts) == summary[0][0] > 1000  # every attempt went in staged
    assert len(staged_inserts) > 3
