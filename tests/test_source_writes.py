"""A read pass writes each batch while it reads the next: a write that fails in the middle of a pass keeps the
batches before it, drops the one read behind it, and the next pass stores everything, once (the events that
the failed write offered are offered again)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from console.sources.service import open_reader
from console.store import open_store
from tests.convoy_server import ConvoyTables
from tests.helpers import table_count, wait_until
from tests.source_tables import assert_stats_match, dispatcher_schema, source_url
from tests.test_source_convoy import PROJECTS, finals, populate

pytestmark = pytest.mark.postgres


@pytest.fixture
def convoy() -> Any:
    with dispatcher_schema("convoy") as (conn, schema):
        yield ConvoyTables(conn, PROJECTS), schema


def test_a_write_failing_mid_pass_loses_nothing(
    tmp_path: Path,
    convoy: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import console.store.engine

    monkeypatch.setattr(console.store.engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    tables, schema = convoy
    populate(tables, 12)  # events whose retries come in later batches than their first attempts
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(store_url)
    reader = open_reader(store, source_url("convoy", schema), batch_size=4)
    locker = sqlite3.connect(tmp_path / "store.db", timeout=30)
    batches = 0

    def lock_after_the_first_batch(_: Any) -> None:
        # Called once a batch is handed to the writing thread: the store is locked as soon as the first
        # batch has committed, so the second batch's write fails while the third is read.
        nonlocal batches
        batches += 1
        if batches == 1:
            wait_until(lambda: table_count(store, "delivery_attempt") > 0)
            locker.execute("BEGIN EXCLUSIVE")

    try:
        with pytest.raises(Exception, match="database is locked"):
            reader.read(progress=lock_after_the_first_batch)
        locker.rollback()
        stored = table_count(store, "delivery_attempt")
        assert 0 < stored <= 4  # the first batch only
        reader.read()
        reader.read()  # nothing new: nothing twice
    finally:
        locker.close()
        reader.close()
        store.close()
    assert reader.summary.rejected == 0
    assert_stats_match(store_url, finals(tables.conn))
