"""Delivery rows on both stores: deliveries with one attempt in a batch are copied by the store from the
attempts just inserted, the others are folded here; both ways must leave the same, exact store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from console.domain.times import parse_rfc3339_ms
from console.ingest.service import ingest_sources
from console.sandbox.sample import generate
from console.store import Store, open_store, writer
from console.store.recount import stored_state, verify_derived_state
from tests.helpers import scrambled_log

END = parse_rfc3339_ms("2026-11-01T00:00:00Z")


def _ingest(url: str, log: Path, batch_size: int) -> tuple[Any, dict[str, Any]]:
    store = open_store(url)
    try:
        summary = ingest_sources(store, [str(log)], batch_size=batch_size)
        assert verify_derived_state(store) == []
        return summary, stored_state(store)
    finally:
        store.close()


@pytest.mark.parametrize("batch_size", [7, 97, 5000])
def test_copied_and_folded_rows_give_the_same_exact_store(
    store: Store, tmp_path: Path, batch_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = scrambled_log(tmp_path, seed=batch_size)
    url = str(store.engine.url.render_as_string(hide_password=False))
    copied, copied_state = _ingest(url, log, batch_size)
    assert copied.rejected == 0 and copied.duplicates > 0
    with store.write() as conn:
        for table in (
            "delivery_attempt",
            "delivery",
            "event",
            "rollup_minute",
            "rollup_hour",
            "failure_minute",
            "gap_hour_events",
            "gap_hour_received",
            "closed_minute",
            "closed_hour",
            "ordering_anomaly",
        ):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    monkeypatch.setattr(writer, "_inserted_in_sequence", lambda *_: False)  # every row folded here
    folded, folded_state = _ingest(url, log, batch_size)
    assert (folded.accepted, folded.duplicates) == (copied.accepted, copied.duplicates)
    assert folded_state == copied_state


def test_batches_take_the_copy_path_and_fold_only_multi_attempt_deliveries(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies: list[tuple[int, int]] = []
    real = writer._insert_single_rows

    def counting(conn: Any, dialect: Any, before: int, count: int, skip: Any) -> None:
        copies.append((count, len(skip)))
        real(conn, dialect, before, count, skip)

    monkeypatch.setattr(writer, "_insert_single_rows", counting)
    log = generate(tmp_path / "sample", events=300, days=1, seed=3, end_ms=END).path
    summary = ingest_sources(store, [str(log)], batch_size=400)
    assert verify_derived_state(store) == []
    assert summary.accepted > 1000
    # every batch took the copy path (no duplicates: the seqs follow on); few rows were folded here
    assert sum(count for count, _ in copies) == summary.accepted
    assert 0 < sum(skipped for _, skipped in copies) < summary.accepted // 4
