"""Merging a write batch's sums into a table keyed by bucket (the rollups, the closed counts): the rows already
stored for the batch's keys are read by bucket (few buckets, many keys each), then the caller updates those and
bulk-inserts the rest."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from console.store.dialect import Dialect


def stored_rows(
    conn: Connection,
    dialect: Dialect,
    table: str,
    key_columns: Sequence[str],
    value_columns: Sequence[str],
    keys: Collection[tuple[Any, ...]],
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The stored values of those of `keys` that `table` holds; a key's first column is its bucket."""
    p = dialect.placeholder
    buckets = sorted({key[0] for key in keys})
    width = len(key_columns)
    found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for start in range(0, len(buckets), dialect.max_params):
        chunk = buckets[start : start + dialect.max_params]
        sql = (
            f"SELECT {', '.join((*key_columns, *value_columns))} FROM {table} "
            f"WHERE {key_columns[0]} IN ({', '.join(p for _ in chunk)})"
        )
        for row in conn.exec_driver_sql(sql, tuple(chunk)):
            key = tuple(row[:width])
            if key in keys:
                found[key] = tuple(row[width:])
    return found
