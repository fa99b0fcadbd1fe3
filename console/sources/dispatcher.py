"""What every dispatcher source provides to the reader: its checks, its attempt rows in id order, and the
conversion of a batch of rows into the project's records."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.domain.records import AttemptRecord, EventRecord
from console.sources.url import SourceURL

# What the reader does with a row: store it, come back for it later, or pass over it.
FINAL, OPEN, SKIP = 0, 1, 2
# Events offered to the store in this process; forgotten past this many (offering one again is harmless).
OFFERED_LIMIT = 500_000


@dataclass
class Converted:
    """The records of a batch of final rows, and the rows rejected as (row id, reason)."""

    attempts: list[AttemptRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ImportedEndpoint:
    """An endpoint as the dispatcher knows it, for an endpoints.toml skeleton (never its secret)."""

    id: str
    url: str
    scheme: str
    name: str | None = None
    secrets: int = 1
    disabled: bool = False


class Dispatcher(ABC):
    """A dispatcher's tables. Rows are tuples whose first two fields are the attempt id and its creation time
    in epoch milliseconds; ids sort in creation order (up to clock skew between writers)."""

    kind = ""
    attempts_table = ""
    scope_column = ""  # the attempts' column `app=` / `project=` selects on (in `select`)

    def __init__(self, url: SourceURL) -> None:
        self.url = url
        self.offered: set[str] = set()
        self.select = ""  # `SELECT ... FROM attempts a JOIN ...`, set by `prepare`
        self.scope_ids: list[str] | None = None  # the applications or projects to read; None: all

    def table(self, name: str) -> str:
        return f'"{self.url.schema}".{name}'

    @abstractmethod
    def prepare(self, conn: Any) -> None:
        """Check the tables (SourceError names what is missing) and resolve the URL's options."""

    def new_rows(
        self, conn: Any, after: str | None, since_ms: int | None, batch: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Attempt rows with id > `after` (or created since `since_ms`), in id order, in batches."""
        where: list[str] = ["true"]
        params: list[Any] = []
        if after is not None:
            where.append("a.id > %s")
            params.append(after)
        if since_ms is not None:
            where.append("a.created_at >= to_timestamp(%s / 1000.0)")
            params.append(since_ms)
        if self.scope_ids is not None:
            where.append(f"{self.scope_column} = ANY(%s)")
            params.append(self.scope_ids)
        query = f"{self.select} WHERE {' AND '.join(where)} ORDER BY a.id"
        yield from server_cursor(conn, f"hookconsole_{self.kind}", query, params, batch)

    def rows_by_id(self, conn: Any, ids: Sequence[str]) -> list[tuple[Any, ...]]:
        """The current state of the given attempt rows (those that still exist)."""
        rows: list[tuple[Any, ...]] = conn.execute(
            f"{self.select} WHERE a.id = ANY(%s)", (list(ids),)
        ).fetchall()
        return rows

    @abstractmethod
    def row_state(self, row: tuple[Any, ...]) -> int:
        """FINAL, OPEN or SKIP."""

    @abstractmethod
    def convert(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> Converted:
        """The records of final rows (and the events they need that were not offered yet)."""

    @abstractmethod
    def endpoints(self, conn: Any) -> list[ImportedEndpoint]:
        """The dispatcher's endpoints, for `endpoints import`."""

    def unoffered(self, event_ids: set[str]) -> list[str]:
        """The event ids not offered to the store yet by this process, now counted as offered."""
        fresh = sorted(event_ids - self.offered)
        if len(self.offered) + len(fresh) > OFFERED_LIMIT:
            self.offered.clear()
        self.offered.update(fresh)
        return fresh


def server_cursor(
    conn: Any, name: str, query: str, params: Sequence[Any], batch: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Stream a query's rows in batches through a server-side cursor (bounded memory whatever the table size)."""
    with conn.cursor(name=name) as cursor:
        cursor.itersize = batch
        cursor.execute(query, params)
        while True:
            rows = cursor.fetchmany(batch)
            if not rows:
                return
            yield rows
