"""Rows carried as the image of an in-memory SQLite database, for bulk ingest into a SQLite store.

The parsing process of a bulk ingest may build a batch's attempt rows into a one-table in-memory database and
send its image (one bytes object). The writer loads the image into a schema every SQLite store connection
attaches for it (`STAGE_SCHEMA`) and inserts the rows with one `INSERT … SELECT`, in SQLite's own code. A
list of tuples costs the writer unpickling every value and binding it again, most of its time per attempt;
staged, that binding is done by the parsing process instead, which does it while the writer is behind
(console.ingest.parallel), so the two processes share the work.

The staging table's columns have no declared type, so every value keeps the type it was given, and the store's
columns convert them exactly as they would the same values bound one by one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any, TypeVar, cast, overload

STAGE_SCHEMA = "hc_stage"
STAGE_TABLE = "staged_rows"
CAN_STAGE = hasattr(sqlite3.Connection, "serialize")  # SQLite 3.23 and later, as Python builds it


class StagedRows(Sequence[tuple[Any, ...]]):
    """A batch of rows (all of one shape) as a database image. As a sequence it decodes the rows on first use:
    the writer does so only on its rare paths (rows already stored, rows refused)."""

    def __init__(self, image: bytes, size: int, width: int) -> None:
        self.image = image
        self.size = size
        self.width = width
        self.decoded: list[tuple[Any, ...]] | None = None  # the rows, once decoded

    @classmethod
    def build(cls, rows: Sequence[tuple[Any, ...]]) -> StagedRows | None:
        """The rows staged, or None when they cannot be (no rows, or a value SQLite does not take)."""
        if not CAN_STAGE or not rows:
            return None
        width = len(rows[0])
        db = sqlite3.connect(":memory:", isolation_level=None)
        try:
            db.execute(f"CREATE TABLE {STAGE_TABLE} ({', '.join(f'c{i}' for i in range(width))})")
            db.execute("BEGIN")
            db.executemany(f"INSERT INTO {STAGE_TABLE} VALUES ({', '.join('?' * width)})", rows)
            db.execute("COMMIT")
            return cls(db.serialize(), len(rows), width)
        except (sqlite3.Error, ValueError, OverflowError):  # a lone surrogate, an int beyond 64 bits
            return None
        finally:
            db.close()

    def insert_sql(self, table: str, columns: Sequence[str]) -> str:
        """The statement that copies the staged rows, in their order, into `table`'s `columns`."""
        staged = ", ".join(f"c{i}" for i in range(self.width))
        return (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {staged} FROM {STAGE_SCHEMA}.{STAGE_TABLE} ORDER BY rowid"
        )

    def rows(self) -> list[tuple[Any, ...]]:
        if self.decoded is None:
            with _opened(self.image) as db:
                self.decoded = db.execute(f"SELECT * FROM {STAGE_TABLE} ORDER BY rowid").fetchall()
        return self.decoded

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, i: int) -> tuple[Any, ...]: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[tuple[Any, ...]]: ...

    def __getitem__(self, i: int | slice) -> tuple[Any, ...] | Sequence[tuple[Any, ...]]:
        return self.rows()[i]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows())

    def __reduce__(self) -> tuple[Any, ...]:
        return StagedRows, (self.image, self.size, self.width)


@contextmanager
def _opened(image: bytes) -> Iterator[sqlite3.Connection]:
    """An in-memory connection holding a database image, closed on exit."""
    with closing(sqlite3.connect(":memory:")) as db:
        db.deserialize(image)
        yield db


Row = TypeVar("Row", bound=tuple[Any, ...])
_FIRST = 0  # where_first_in matches a row by its first field (c0 in the staged image)


def where_first_in(rows: Sequence[Row], values: set[Any]) -> list[tuple[int, Row]]:
    """(position, row) of each row whose first field is one of `values`; staged rows not yet decoded are
    searched in their image, without decoding the others."""
    if not isinstance(rows, StagedRows) or rows.decoded is not None:
        return [(i, r) for i, r in enumerate(rows) if r[_FIRST] in values]
    with _opened(rows.image) as db:
        db.execute("CREATE TEMP TABLE wanted (value PRIMARY KEY)")
        db.executemany("INSERT INTO wanted VALUES (?)", [(v,) for v in values])
        found = db.execute(
            f"SELECT rowid - 1, * FROM {STAGE_TABLE} WHERE c0 IN (SELECT value FROM wanted) ORDER BY rowid"
        )
        return [(position, cast(Row, tuple(fields))) for position, *fields in found]
