"""A store that refuses writes in the middle of a replay (the disk full): the job's note, its items' errors and
the command's error say what failed in one line, without SQL, parameters or a traceback. SQLite's failure is
real (`PRAGMA max_page_count` caps the file, so writes fail with SQLITE_FULL); PostgreSQL's is raised by the
server (a trigger answering with the disk_full error a full volume gives)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from console.domain.filters import DeliveryFilter
from console.domain.replay import ReplaySelection
from console.endpoints import load_endpoints
from console.replay.service import ReplayService
from console.sandbox.receiver import Faults
from console.store import Store
from console.store import replay_jobs as journal
from tests.helpers import replay_cli, run
from tests.test_replay_faults import sandbox, seed

SQLITE_FULL = (
    "store write failed: the disk is full or the store reached its size limit (database or disk is full)"
)
PG_FULL = 'could not extend file "base/1/2": No space left on device'


def _cap(dbapi_connection: Any, pages: int) -> None:
    dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")


def _pages(store: Store) -> int:
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the file holds every page written so far
        return int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())


@contextmanager
def full_disk(store: Store) -> Iterator[str]:
    """From here on, writes that need more room fail for real; yields the note they must leave."""
    if store.dialect.name == "sqlite":
        pages = _pages(store) + 2
        listener = lambda dbapi, _record: _cap(dbapi, pages)  # noqa: E731
        event.listen(store.engine, "connect", listener)
        store.engine.dispose()  # pooled connections are opened again, capped
        try:
            yield SQLITE_FULL
        finally:
            event.remove(store.engine, "connect", listener)
        return
    with store.write() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"RAISE EXCEPTION '{PG_FULL}' USING ERRCODE = 'disk_full'; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER disk_full BEFORE UPDATE ON delivery FOR EACH ROW EXECUTE FUNCTION refuse_write()"
        )
    yield f"store write failed: {PG_FULL}"


def _clean(text: str) -> None:
    for fragment in ("[SQL", "[parameters", "Traceback", "sqlalche.me", "UPDATE ", "INSERT ", "\n"):
        assert fragment not in text, text


def test_a_full_store_leaves_a_one_line_note(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, [f"evt_{i:03d}" for i in range(300)])
    with sandbox(tmp_path, Faults()) as (_receiver, config):
        service = ReplayService(store, load_endpoints(config))
        job_id = service.create_job(service.plan(ReplaySelection(DeliveryFilter())))
        with full_disk(store) as expected, pytest.raises(SQLAlchemyError):
            asyncio.run(service.start(job_id).run())
        view = journal.job_view(store, job_id)
        items = journal.job_items(store, job_id, 1000)
    assert view is not None and view.state.value == "interrupted"
    assert view.note == expected
    for item in items:
        _clean(item.reason or "")
    shown = run("--db", store.url, "replay", "show", job_id)
    assert f"note: {expected}\n" in shown.stdout
    as_json = orjson.loads(run("--db", store.url, "replay", "show", job_id, "--json").stdout)
    assert as_json["note"] == expected


def test_the_command_says_it_in_one_line(sqlite_store: Store, tmp_path: Path) -> None:
    store = sqlite_store
    seed(store, tmp_path, [f"evt_{i:03d}" for i in range(300)])
    with sandbox(tmp_path, Faults()) as (_receiver, config):
        service = ReplayService(store, load_endpoints(config))
        job_id = service.create_job(service.plan(ReplaySelection(DeliveryFilter())))
        pages = _pages(store) + 2

        def cap_this_store(dbapi: Any, _record: Any) -> None:  # the command opens an engine of its own
            if isinstance(dbapi, sqlite3.Connection):
                _cap(dbapi, pages)

        event.listen(Engine, "connect", cap_this_store)
        try:
            result = replay_cli(store, config, "resume", job_id, "--yes")
        finally:
            event.remove(Engine, "connect", cap_this_store)
    assert result.exit_code == 1
    _clean(result.stdout)
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"hookconsole: store {store.url}: {SQLITE_FULL.removeprefix('store write failed: ')}"
    for line in result.stderr.splitlines():
        _clean(line)
    assert journal.job_view(store, job_id).note == SQLITE_FULL  # type: ignore[union-attr]
