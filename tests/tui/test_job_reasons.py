"""The jobs screen says why a replay failed: who started the highlighted job, why, and its items' most common
failure reasons (the store has them; the console used to show only counts)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from console.domain.replay import ItemState, JobOrigin, JobState, PlannedItem
from console.operations import Operations
from console.store import open_store
from console.store import replay_jobs as journal
from console.store.replay_jobs import ItemResult
from console.tui.app import make_app
from console.tui.screens.jobs import JobsScreen
from tests.tui.conftest import END, settle

REFUSED = "connection refused (gave up after 5 tries)"
DNS = "dns: Name or service not known (gave up after 5 tries)"


def _failed_job(db: Path) -> None:
    store = open_store(str(db))
    try:
        items = [PlannedItem(f"evt_{i}", "ep_crm", "reward.redeemed", END, 503, False) for i in range(4)]
        journal.create_job(
            store, "rj_failed", "ep_crm undelivered", False, 4, items, END, JobOrigin("bob@ops", "INC-9")
        )
        results = [ItemResult(f"evt_{i}", "ep_crm", ItemState.FAILED, last_error=REFUSED) for i in range(3)]
        results.append(ItemResult("evt_3", "ep_crm", ItemState.FAILED, last_error=DNS))
        journal.record_results(store, "rj_failed", results, END)
        journal.set_job_state(store, "rj_failed", JobState.FAILED, END)
    finally:
        store.close()


async def test_the_highlighted_job_says_who_why_and_why_it_failed(
    console_db: Path, sample_folder: Path
) -> None:
    _failed_job(console_db)
    ops = Operations(str(console_db), sample_folder / "endpoints.toml", clock=lambda: END)
    app = make_app(None, "", 3600.0, ops=ops)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("j")
            await settle(pilot)
            assert isinstance(app.screen, JobsScreen)
            why = str(app.screen.query_one("#jobs-why", Static).render())
            assert "rj_failed: by bob@ops" in why and "why: INC-9" in why
            assert f"failed: {REFUSED} (3); {DNS} (1)" in why
    finally:
        ops.reset()
