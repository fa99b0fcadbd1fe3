"""What every dispatcher source provides to the reader: its checks, its attempt rows in id order, and the
conversion of a batch of rows into the project's records."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.domain.endpoint import ConvoySigning
from console.domain.records import AttemptRecord, EventRecord
from console.sources.database import can_read, check_tables
from console.sources.url import SourceURL

# What the reader does with a row: store it, come back for it later, or pass over it.
FINAL, OPEN, SKIP = 0, 1, 2
# Every dispatcher's attempt row (its `select`, its ROW_COLUMNS) starts with the attempt's id and its created
# time (epoch ms): the reader reads them there.
ROW_HEAD = ("id", "created")
ROW_ID, ROW_CREATED = ROW_HEAD.index("id"), ROW_HEAD.index("created")
# Events offered to the store in this process; forgotten past this many (offering one again is harmless).
OFFERED_LIMIT = 500_000
# How far a row's `created_at` may lie before the time its id tells (clocks of the writer and the database).
ID_CLOCK_MARGIN_MS = 600_000


@dataclass
class Converted:
    """The records of a batch of final rows, and the rows rejected as (row id, reason)."""

    attempts: list[AttemptRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)
    offered: set[str] = field(default_factory=set)  # the events this batch offers the store (`unoffered`)


@dataclass(frozen=True)
class ImportedEndpoint:
    """An endpoint as the dispatcher knows it, for an endpoints.toml skeleton (never its secret)."""

    id: str
    url: str
    scheme: str
    name: str | None = None
    secrets: int = 1
    disabled: bool = False
    convoy: ConvoySigning | None = None  # how Convoy signs for it, as its tables say (unchecked)
    notes: tuple[str, ...] = ()  # for the skeleton's comments: what the operator should know (never a secret)


class Dispatcher(ABC):
    """A dispatcher's tables. Rows are tuples whose first two fields are the attempt id and its creation time
    in epoch milliseconds; ids sort in creation order (up to clock skew between writers)."""

    kind = ""
    attempts_table = ""
    default_late_ms = 10_000  # how long after its start time an attempt row may still commit

    def __init__(self, url: SourceURL) -> None:
        self.url = url
        self.offered: set[str] = set()
        self.pending_offers: set[str] = set()  # offered by writes under way; kept once each commits
        self.select = ""  # `SELECT ... FROM attempts a JOIN ...`, set by `prepare`
        self.scope_column = ""  # the column (in `select`) that `app=` / `project=` / `org=` selects on
        self.scope_ids: list[str] | None = None  # the tenants to read; None: all

    @property
    def late_ms(self) -> int:
        """The read window: rows younger than this (by the dispatcher's clock) may still be joined by rows
        with lower ids, so the cursor does not move past them (`window=` on the URL)."""
        window = self.url.window_ms
        return self.default_late_ms if window is None else window

    def table(self, name: str) -> str:
        return f'"{self.url.schema}".{name}'

    @abstractmethod
    def prepare(self, conn: Any) -> None:
        """Check the tables (SourceError names what is missing) and resolve the URL's options."""

    def new_rows(
        self, conn: Any, after: str | None, since_ms: int | None, batch: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Attempt rows with id > `after` (or created since `since_ms`), in id order, in batches. When the id
        tells its time, the rows' `created_at` is bounded below too (a partitioned table then opens only the
        partitions from there on)."""
        where: list[str] = ["true"]
        params: list[Any] = []
        if after is not None:
            where.append("a.id > %s")
            params.append(after)
            made = self.time_of(after)
            if made is not None and since_ms is None:
                since_ms = made - self.late_ms - ID_CLOCK_MARGIN_MS
        if since_ms is not None:
            where.append("a.created_at >= to_timestamp(%s / 1000.0)")
            params.append(since_ms)
        for clause, value in self.scope_where():
            where.append(clause)
            params.append(value)
        query = f"{self.select} WHERE {' AND '.join(where)} ORDER BY a.id"
        yield from server_cursor(conn, f"hookconsole_{self.kind}", query, params, batch)

    def scope_where(self) -> list[tuple[str, Any]]:
        """The conditions (SQL, parameter) that keep a read to the URL's tenants."""
        if self.scope_ids is None:
            return []
        return [(f"{self.scope_column} = ANY(%s)", self.scope_ids)]

    def time_of(self, row_id: str | None) -> int | None:
        """When an attempt id was made (epoch ms), where the dispatcher's ids tell it."""
        return None

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

    # Where an endpoint's tenant is kept at the dispatcher: (endpoint table, tenant column).
    tenant_of_endpoint: tuple[str, str] = ("", "")
    can_label: bool | None = None  # whether sources_of can read the endpoints' tenants (asked once)

    def sources_of(self, conn: Any, endpoint_ids: Sequence[str]) -> dict[str, str]:
        """Each endpoint's tenant at the dispatcher, as a label (`svix:app_…`, `convoy:<project id>`): the
        store keeps it as endpoint.source, so gap checks compare an event only with its own tenant's
        endpoints and filters can pick one tenant. SELECT on the endpoint table is optional
        (docs/sources.md): without it, endpoints get no label."""
        table, column = self.tenant_of_endpoint
        if self.can_label is None:
            columns = check_tables(conn, self.url, (), "").get(table, set())
            self.can_label = column in columns and can_read(conn, self.url, table)
        if not self.can_label or not endpoint_ids:
            return {}
        rows = conn.execute(
            f"SELECT id, {column} FROM {self.table(table)} WHERE id = ANY(%s)", [list(endpoint_ids)]
        ).fetchall()
        return {endpoint_id: f"{self.url.kind}:{tenant}" for endpoint_id, tenant in rows if tenant}

    @abstractmethod
    def endpoints(self, conn: Any) -> list[ImportedEndpoint]:
        """The dispatcher's endpoints, for `endpoints import`."""

    def unoffered(self, event_ids: set[str], out: Converted) -> list[str]:
        """The event ids neither offered to the store by this process nor by a write under way, which `out`
        (a batch's records) then offers; they count as offered once the write carrying them commits
        (`committed`), so a failed write offers them again."""
        fresh = sorted(event_ids - self.offered - self.pending_offers)
        self.pending_offers.update(fresh)
        out.offered.update(fresh)
        return fresh

    def withdraw(self, event_id: str, out: Converted) -> None:
        """`out` does not offer this event after all (it cannot be stored: its attempts are rejected too)."""
        self.pending_offers.discard(event_id)
        out.offered.discard(event_id)

    def committed(self, out: Converted) -> None:
        """The write of the batch `out` committed: the events it offered count as offered."""
        if len(self.offered) + len(out.offered) > OFFERED_LIMIT:
            self.offered.clear()
        self.offered.update(out.offered)
        self.pending_offers.difference_update(out.offered)

    def abandoned(self) -> None:
        """No write is under way any more (a pass ended, or failed with one of its writes): the events offered
        by writes that did not commit are offered again."""
        self.pending_offers.clear()


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
