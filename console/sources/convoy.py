"""A self-hosted Convoy server's PostgreSQL tables (schema `convoy`), read-only (checked against Convoy
v26.7.3; docs/sources.md).

What Convoy writes: one `delivery_attempts` row per HTTP attempt, inserted once after the response (or the
transport error), `created_at` from `now()`, `http_status` Go's status line ("503 Service Unavailable") or
NULL, `error` Go's error text (`Post "https://…": context deadline exceeded`) or NULL, `status` true only
for a 2xx read in full (a 2xx with `status = false` failed: Convoy retries it).

Mapping: event_id = the event's id, endpoint_id = the attempt's `endpoint_id`, attempted_at = `created_at`,
latency = `responded_at - requested_at`, attempt numbers = the order of attempts by (`created_at`, `id`)
among the attempts of the same event at the same endpoint, payload = the compact JSON of the event body
(what Convoy sends and signs). Soft-deleted rows (`deleted_at`) are passed over. Every join carries the
project id, and the attempts a time lower bound, so a partitioned install (tables partitioned by project and
day) opens only the partitions it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from console.domain.outcomes import Trigger
from console.ingest.lines import RESPONSE_EXCERPT_BYTES, LineError
from console.ingest.log_files import SourceError
from console.sources.database import check_tables, epoch_ms
from console.sources.dispatcher import (
    FINAL,
    ROW_CREATED,
    ROW_HEAD,
    ROW_ID,
    SKIP,
    Converted,
    Dispatcher,
    ImportedEndpoint,
)
from console.sources.imported_endpoints import convoy_endpoints
from console.sources.records import build_attempt, build_event, failed_despite, go_compact
from console.sources.tenants import resolve_scope

SHAPE = "a Convoy server database (schema convoy: events, event_deliveries, delivery_attempts, endpoints; Convoy 24.x-26.x)"
# How much of a response body is read: the bytes its stored excerpt can hold, and 3 more, so the excerpt is the
# one the whole body gives (a character or invalid sequence cut at the end lies past the excerpt's end).
EXCERPT_READ = RESPONSE_EXCERPT_BYTES + 3
_CROCKFORD = {c: i for i, c in enumerate("0123456789ABCDEFGHJKMNPQRSTVWXYZ")}


# Status lines seen (`503 Service Unavailable` -> 503): a server writes a few dozen of them, over and over.
_STATUS_CODES: dict[str, int] = {}
_STATUS_CODES_MAX = 1_000


def status_code_of(text: str | None) -> int | None:
    """`503 Service Unavailable` -> 503; None when no response came. ValueError for anything else."""
    if text is None:
        return None
    code = _STATUS_CODES.get(text)
    if code is not None:
        return code
    if not text.strip():
        return None
    head = text.strip().split(None, 1)[0]
    if not head.isdigit():
        raise ValueError(text)
    if len(_STATUS_CODES) >= _STATUS_CODES_MAX:
        _STATUS_CODES.clear()
    code = _STATUS_CODES[text] = int(head)
    return code


def ulid_ms(text: str | None) -> int | None:
    """The time (epoch ms) a ULID was made, from its first 10 characters; None when `text` is no ULID."""
    if text is None or len(text) != 26:
        return None
    value = 0
    for char in text[:10].upper():
        digit = _CROCKFORD.get(char)
        if digit is None:
            return None
        value = value * 32 + digit
    return value


# The columns of an attempt row as `ConvoySource.select` reads them, in its order, and their positions.
ROW_COLUMNS = (
    *ROW_HEAD,
    "event_id",
    "endpoint_id",
    "http_status",
    "error",
    "latency",
    "response",
    "event_type",
    "deleted",
    "succeeded",
    "found",
    "project_id",
)
_EVENT_ID = ROW_COLUMNS.index("event_id")
_ENDPOINT_ID = ROW_COLUMNS.index("endpoint_id")
_HTTP_STATUS = ROW_COLUMNS.index("http_status")
_ERROR = ROW_COLUMNS.index("error")
_LATENCY = ROW_COLUMNS.index("latency")
_RESPONSE = ROW_COLUMNS.index("response")
_EVENT_TYPE = ROW_COLUMNS.index("event_type")
_DELETED = ROW_COLUMNS.index("deleted")
_SUCCEEDED = ROW_COLUMNS.index("succeeded")
_FOUND = ROW_COLUMNS.index("found")
_PROJECT_ID = ROW_COLUMNS.index("project_id")


class ConvoySource(Dispatcher):
    kind = "convoy"
    tenant_of_endpoint = ("endpoints", "project_id")
    attempts_table = "delivery_attempts"
    default_late_ms = 10_000  # rows are inserted after the response, `created_at` from now(): little skew

    def prepare(self, conn: Any) -> None:
        columns = check_tables(conn, self.url, ("events", "event_deliveries", "delivery_attempts"), SHAPE)
        needed = {
            "delivery_attempts": {
                "id",
                "event_delivery_id",
                "endpoint_id",
                "http_status",
                "error",
                "status",
                "created_at",
                "requested_at",
                "responded_at",
                "deleted_at",
                "project_id",
            },
            "event_deliveries": {"id", "event_id", "project_id", "deleted_at"},
            "events": {"id", "event_type", "data", "raw", "created_at", "deleted_at", "project_id"},
        }
        for table, wanted in needed.items():
            missing = wanted - columns[table]
            if missing:
                raise SourceError(
                    f"{self.url.display}: table {self.url.schema}.{table} lacks column(s) {', '.join(sorted(missing))}; expected {SHAPE}"
                )
        expressions = {
            "id": "a.id",
            "created": epoch_ms("a.created_at"),
            "event_id": "d.event_id",
            "endpoint_id": "a.endpoint_id",
            "http_status": "a.http_status",
            "error": "a.error",
            "latency": "CASE WHEN a.responded_at IS NOT NULL AND a.requested_at IS NOT NULL THEN "
            "greatest(0, extract(epoch FROM (a.responded_at - a.requested_at)) * 1000)::float8 END",
            "response": f"substring(a.response_data FROM 1 FOR {EXCERPT_READ})",
            "event_type": "e.event_type",
            "deleted": "(a.deleted_at IS NOT NULL OR d.deleted_at IS NOT NULL OR e.deleted_at IS NOT NULL)",
            "succeeded": "a.status",
            "found": "d.id IS NOT NULL AND e.id IS NOT NULL",
            "project_id": "a.project_id",
        }
        self.select = (
            f"SELECT {', '.join(expressions[name] for name in ROW_COLUMNS)} "
            f"FROM {self.table('delivery_attempts')} a "
            f"LEFT JOIN {self.table('event_deliveries')} d ON d.id = a.event_delivery_id AND d.project_id = a.project_id "
            f"LEFT JOIN {self.table('events')} e ON e.id = d.event_id AND e.project_id = d.project_id"
        )
        if self.url.options.get("project") is not None or self.url.options.get("org") is not None:
            if "projects" not in columns:
                raise SourceError(
                    f"{self.url.display}: table {self.url.schema}.projects not found; project= and org= need it"
                )
            live = "deleted_at IS NULL" if "deleted_at" in columns["projects"] else "true"
            orgs = (
                f"SELECT id FROM {self.table('organisations')} WHERE (id = %s OR name = %s) AND deleted_at IS NULL"
                if "organisations" in columns
                else None
            )
            self.scope_column = "a.project_id"
            self.scope_ids = resolve_scope(
                conn,
                self.url,
                kind="Convoy project",
                table=self.table("projects"),
                name_column="name",
                org_column="organisation_id",
                wanted=self.url.options.get("project"),
                org=self.url.options.get("org"),
                live=live,
                org_names=orgs,
            )

    def time_of(self, row_id: str | None) -> int | None:
        return ulid_ms(row_id)

    def scope_where(self) -> list[tuple[str, Any]]:
        """One project as an equality, which PostgreSQL carries through the joins' `project_id = project_id`
        to every joined table, so each one's partitions are pruned when planning."""
        if self.scope_ids is None:
            return []
        if len(self.scope_ids) == 1:
            return [("a.project_id = %s", self.scope_ids[0])]
        return [("a.project_id = ANY(%s)", self.scope_ids)]

    def row_state(self, row: tuple[Any, ...]) -> int:
        return SKIP if row[_DELETED] else FINAL

    def convert(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> Converted:
        out = Converted()
        later = self._numbers(conn, rows)
        created_of: dict[str, int] = {}
        attempts, rejects, scheduled = out.attempts, out.rejects, Trigger.SCHEDULED
        for index, row in enumerate(rows):
            row_id, created, event_id, endpoint_id, http_status, error, latency, response, event_type = (
                row[ROW_ID],
                row[ROW_CREATED],
                row[_EVENT_ID],
                row[_ENDPOINT_ID],
                row[_HTTP_STATUS],
                row[_ERROR],
                row[_LATENCY],
                row[_RESPONSE],
                row[_EVENT_TYPE],
            )
            succeeded, found = row[_SUCCEEDED], row[_FOUND]
            try:
                if not found:
                    raise LineError("event_delivery_id", "its event delivery or event is not in the tables")
                if created is None:
                    raise LineError("created_at", "missing or outside 1970-2100")
                try:
                    code = status_code_of(http_status)
                except ValueError:
                    raise LineError(
                        "status_code", f"http_status {http_status!r} is not an HTTP status"
                    ) from None
                error_text = (error or None) if code is None else None
                if succeeded is False:
                    code, error_text = failed_despite(code, error or None)
                attempts.append(
                    build_attempt(
                        event_id,
                        event_type,
                        endpoint_id,
                        later.get(index, 1),
                        created,
                        code,
                        latency,
                        error_text,
                        scheduled,
                        bytes(response).decode(errors="replace") if response else None,
                    )
                )
                if event_id not in created_of:
                    created_of[event_id] = created
            except LineError as exc:
                rejects.append((row_id, str(exc)))
        self._events(conn, created_of, out)
        return out

    def _numbers(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> dict[int, int]:
        """The numbers of the rows that are not the first attempt of their event at their endpoint, keyed by
        the row's index in `rows` (a row left out is number 1): each one's rank by (created_at, id) among
        those attempts, deleted ones included (numbers never shift when a row is soft-deleted later). Only
        ranks above 1 come back, since most attempts are first ones; two rows sharing an id (possible in a
        partitioned table) keep a number each."""
        if not any(r[_FOUND] and r[ROW_CREATED] is not None for r in rows):
            return {}
        projects = sorted({r[_PROJECT_ID] for r in rows})
        query = (
            "SELECT id, created, rn FROM (SELECT a.id, "
            + epoch_ms("a.created_at")
            + " AS created, row_number() OVER ("
            "PARTITION BY d.event_id, a.endpoint_id ORDER BY a.created_at, a.id, a.ctid) AS rn"
            f" FROM {self.table('delivery_attempts')} a JOIN {self.table('event_deliveries')} d"
            " ON d.id = a.event_delivery_id AND d.project_id = a.project_id"
            " WHERE d.event_id = ANY(%s) AND a.project_id = ANY(%s) AND d.project_id = ANY(%s)"
            ") ranked WHERE rn > 1"
        )
        ranks: dict[tuple[str, int], list[int]] = {}
        for attempt_id, created, rank in conn.execute(
            query, (sorted({r[_EVENT_ID] for r in rows if r[_FOUND]}), projects, projects)
        ).fetchall():
            ranks.setdefault((attempt_id, created), []).append(rank)
        numbers: dict[int, int] = {}
        if not ranks:
            return numbers
        ids = {attempt_id for attempt_id, _ in ranks}
        for index, row in enumerate(rows):
            if row[ROW_ID] in ids:
                found = ranks.get((row[ROW_ID], row[ROW_CREATED]))
                if found:
                    numbers[index] = found.pop(0)
        return numbers

    def _events(self, conn: Any, created_of: dict[str, int], out: Converted) -> None:
        wanted = self.unoffered(set(created_of), out)
        if not wanted:
            return
        rows = conn.execute(
            f"SELECT id, event_type, {epoch_ms('created_at')}, data, CASE WHEN data IS NULL THEN raw END "
            f"FROM {self.table('events')} WHERE id = ANY(%s)",
            (wanted,),
        ).fetchall()
        paths = self.url.field_paths
        for event_id, event_type, created, data, raw in rows:
            body = bytes(data) if data is not None else (raw or "").encode()
            try:
                out.events.append(
                    build_event(
                        event_id,
                        event_type,
                        created if created is not None else created_of[event_id],
                        go_compact(body),
                        paths,
                    )
                )
            except LineError:
                self.withdraw(event_id, out)

    def endpoints(self, conn: Any) -> list[ImportedEndpoint]:
        return convoy_endpoints(conn, self.url, self.scope_ids, SHAPE)
