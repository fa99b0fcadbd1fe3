"""SQLite's memory stays bounded whatever the window: a query's sorts and temporary tables spill to temporary
files instead of growing in memory (measured by SQLite's own memory counter, in the library the store uses)."""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import pytest

from console.store import open_store

ROWS, BYTES = 60_000, 1000  # 60 MB through a temporary table and a sort


def _sqlite_library() -> ctypes.CDLL:
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        pytest.skip("no shared SQLite library to read the memory counter of")
    lib = ctypes.CDLL(name)
    lib.sqlite3_memory_highwater.restype = ctypes.c_int64
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return lib


def test_a_large_sort_spills_to_files_rather_than_memory(tmp_path: Path) -> None:
    lib = _sqlite_library()
    store = open_store(str(tmp_path / "store.db"))
    try:
        with store.read() as conn:
            conn.exec_driver_sql("SELECT COUNT(*) FROM delivery").scalar_one()
            used = lib.sqlite3_memory_used()  # the open connection's: none if the module has its own SQLite
            if used == 0:
                pytest.skip("the sqlite3 module does not use the shared SQLite library")
            lib.sqlite3_memory_highwater(1)  # from here on
            count, size = conn.exec_driver_sql(
                f"WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {ROWS}), "
                f"t AS MATERIALIZED (SELECT i, randomblob({BYTES}) AS b FROM k) "
                "SELECT COUNT(*), SUM(length(b)) FROM (SELECT i, b FROM t ORDER BY b)"
            ).one()
            peak = lib.sqlite3_memory_highwater(0) - used
    finally:
        store.close()
    assert (count, size) == (ROWS, ROWS * BYTES)
    # In memory, the temporary table and the sort's runs would each hold the 60 MB.
    assert peak < ROWS * BYTES * 0.75, f"{peak / 1e6:.0f} MB"
