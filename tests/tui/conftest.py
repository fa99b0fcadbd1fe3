"""A deterministic store and console for the TUI tests: sample traffic with a fixed end, a fixed clock."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed

from console.domain.times import parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.operations import Operations
from console.sandbox.sample import generate
from console.store import open_store
from console.tui.app import HookConsoleApp, make_app

END = parse_rfc3339_ms("2026-11-01T00:00:00Z")


@pytest.fixture(scope="session")
def sample_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tui-sample")
    generate(folder, events=500, days=1, seed=21, end_ms=END)
    return folder


def ingest_into(db: Path | str, log: Path) -> None:
    """Ingest one delivery log into the store at `db` (a SQLite path or a PostgreSQL URL)."""
    store = open_store(str(db))
    try:
        ingest_sources(store, [str(log)])
    finally:
        store.close()


@pytest.fixture
def console_db(sample_folder: Path, tmp_path: Path) -> Path:
    db = tmp_path / "console.db"
    ingest_into(db, sample_folder / "deliveries.jsonl")
    return db


@pytest.fixture
def make_console(console_db: Path, sample_folder: Path) -> Iterator[Callable[..., HookConsoleApp]]:
    """Build the app on the test store; `clock` defaults to the sample's end, `refresh_s` to an hour (no ticks)."""
    built: list[Operations] = []

    def build(
        endpoints: Path | None = None,
        clock: Callable[[], int] = lambda: END,
        refresh_s: float = 3600.0,
        db: Path | str | None = None,
    ) -> HookConsoleApp:
        ops = Operations(str(db or console_db), endpoints or sample_folder / "endpoints.toml", clock=clock)
        built.append(ops)
        return make_app(None, "", refresh_s, ops=ops)

    yield build
    for ops in built:
        ops.reset()


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until every worker is done and the screen has caught up (no sleeps). A worker that failed is the
    app's to report (its one handler does), so it does not fail the wait; tests assert on what was shown."""
    for _ in range(3):
        await pilot.pause()
        for worker in list(pilot.app.workers):
            with contextlib.suppress(WorkerFailed, WorkerCancelled):
                await worker.wait()
    await pilot.pause()
