"""Bulk ingest's hot path: the line origins the parsing process packs, the paused cycle collector, and the
bulk insert of both stores."""

from __future__ import annotations

import gc
import pickle
import weakref

from console.domain.outcomes import Outcome
from console.domain.records import ATTEMPT_COLUMNS, EVENT_COLUMNS, AttemptRecord, EventRecord
from console.ingest import ingestor
from console.ingest.ingestor import collector_paused, young_collected
from console.ingest.parallel import PackedOrigins
from console.store import Store


def test_packed_origins_give_back_every_line_after_a_pickle_round_trip() -> None:
    origins = [("app.jsonl", 3, b'{"a":1}'), ("app.jsonl", 4, b""), ("app.jsonl", 9, b"\xff\x00tail")]
    packed = pickle.loads(pickle.dumps(PackedOrigins("app.jsonl", [3, 4, 9], [o[2] for o in origins])))
    assert len(packed) == 3
    assert list(packed) == origins
    assert packed[-1] == origins[-1]
    assert packed[1:] == origins[1:]
    assert list(PackedOrigins("empty", [], [])) == []


def test_packed_origins_say_whether_a_line_can_hold_a_nul() -> None:
    def packed(*raws: bytes) -> PackedOrigins:
        return PackedOrigins("app.jsonl", list(range(len(raws))), raws)

    assert not packed(b'{"error":"reset"}', b'{"error":"code u0000"}').may_hold_nul()
    assert packed(b'{"a":1}', b'{"error":"reset\\u0000by peer"}').may_hold_nul()  # JSON-escaped
    assert packed(b"evt_1,ep_a,1,\x00").may_hold_nul()  # a raw NUL (CSV)


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cycle collector frees it


def test_a_cycle_left_by_batches_is_collected_within_a_few_batches() -> None:
    with collector_paused():
        gc.collect()
        ingestor._batches_since_collect = 0
        node = _Node()
        freed = weakref.ref(node)
        del node
        for _ in range(ingestor.YOUNG_COLLECT_EVERY - 1):
            young_collected()
        assert freed() is not None  # the collector is paused and not yet due
        young_collected()
        assert freed() is None


def test_bulk_insert_stores_every_kind_of_value_exactly(store: Store) -> None:
    """PostgreSQL copies rows in binary, by the columns' own types: bytes, big integers, floats, enums and
    NULLs come back as they went in (on SQLite too)."""
    payload = bytes(range(256)) + b'{"k": "\\u0000"}'
    event = EventRecord("evt_1", "reward.redeemed", 4_102_444_799_999, payload, None, "r", "12.50", "INR")
    attempt = AttemptRecord(
        "evt_1", "reward.redeemed", "ep", 7, 4_102_444_799_999, Outcome.TIMEOUT, None, 0.5, "timed out"
    )
    with store.write() as conn:
        store.dialect.bulk_insert(conn, "event", EVENT_COLUMNS, [event])
        store.dialect.bulk_insert(
            conn, "delivery_attempt", ATTEMPT_COLUMNS, [attempt, attempt._replace(attempt=8)]
        )
    with store.read() as conn:
        stored_event = conn.exec_driver_sql(f"SELECT {', '.join(EVENT_COLUMNS)} FROM event").one()
        stored = conn.exec_driver_sql(
            f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM delivery_attempt ORDER BY attempt"
        ).all()
    assert tuple(stored_event) == (*event[:3], payload, *event[4:])
    assert [tuple(r) for r in stored] == [tuple(attempt), tuple(attempt._replace(attempt=8))]
