"""A self-hosted Convoy server's PostgreSQL tables (schema `convoy`), read-only.

Mapping (docs/sources.md): event_id = the event's id, endpoint_id = the attempt's `endpoint_id`,
attempted_at = `created_at`, status_code from `http_status` (Go's status text, "503 Service Unavailable";
NULL or empty when no response came, `error` then holds the transport error), latency = `responded_at -
requested_at`, attempt numbers = the order of attempts by (`created_at`, `id`) among the attempts of the same
event at the same endpoint, payload = the compact JSON of the event body (what Convoy sends and signs).
Soft-deleted rows (`deleted_at`) are passed over. Convoy's attempts are written once, when they end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from console.domain.outcomes import Trigger
from console.ingest.lines import LineError
from console.ingest.sources import SourceError
from console.sources.database import check_tables
from console.sources.dispatcher import FINAL, SKIP, Converted, Dispatcher, ImportedEndpoint
from console.sources.records import build_attempt, build_event, go_compact

SHAPE = "a Convoy server database (schema convoy: events, event_deliveries, delivery_attempts, endpoints; Convoy 24.x)"
_MS = "floor(extract(epoch FROM {}) * 1000)::bigint"


def status_code_of(text: str | None) -> int | None:
    """`503 Service Unavailable` -> 503; None when no response came. ValueError for anything else."""
    if text is None or not text.strip():
        return None
    head = text.strip().split(None, 1)[0]
    if not head.isdigit():
        raise ValueError(text)
    return int(head)


class ConvoySource(Dispatcher):
    kind = "convoy"
    attempts_table = "delivery_attempts"
    scope_column = "a.project_id"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.endpoint_columns: set[str] = set()

    def prepare(self, conn: Any) -> None:
        columns = check_tables(
            conn, self.url, ("events", "event_deliveries", "delivery_attempts", "endpoints"), SHAPE
        )
        needed = {
            "delivery_attempts": {
                "id",
                "event_delivery_id",
                "endpoint_id",
                "http_status",
                "error",
                "created_at",
                "requested_at",
                "responded_at",
                "deleted_at",
                "project_id",
            },
            "event_deliveries": {"id", "event_id", "deleted_at"},
            "events": {"id", "event_type", "data", "raw", "created_at", "deleted_at"},
        }
        for table, wanted in needed.items():
            missing = wanted - columns[table]
            if missing:
                raise SourceError(
                    f"{self.url.display}: table {self.url.schema}.{table} lacks column(s) {', '.join(sorted(missing))}; expected {SHAPE}"
                )
        self.endpoint_columns = columns["endpoints"]
        self.select = (
            f"SELECT a.id, {_MS.format('a.created_at')}, d.event_id, a.endpoint_id, a.http_status, a.error, "
            "extract(epoch FROM (a.responded_at - a.requested_at)) * 1000, a.response_data, e.event_type, "
            "(a.deleted_at IS NOT NULL OR d.deleted_at IS NOT NULL OR e.deleted_at IS NOT NULL) "
            f"FROM {self.table('delivery_attempts')} a "
            f"JOIN {self.table('event_deliveries')} d ON d.id = a.event_delivery_id "
            f"JOIN {self.table('events')} e ON e.id = d.event_id"
        )
        project = self.url.options.get("project")
        if project is not None:
            found = [project]
            if "projects" in columns:
                rows = conn.execute(
                    f"SELECT id FROM {self.table('projects')} WHERE id = %s OR name = %s", (project, project)
                ).fetchall()
                if not rows:
                    raise SourceError(f"{self.url.display}: no Convoy project with id or name {project!r}")
                found = [r[0] for r in rows]
            self.scope_ids = found

    def row_state(self, row: tuple[Any, ...]) -> int:
        return SKIP if row[9] else FINAL

    def convert(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> Converted:
        out = Converted()
        numbers = self._numbers(conn, rows)
        for (
            row_id,
            created,
            event_id,
            endpoint_id,
            http_status,
            error,
            latency,
            response,
            event_type,
            _,
        ) in rows:
            try:
                try:
                    code = status_code_of(http_status)
                except ValueError:
                    raise LineError(
                        "status_code", f"http_status {http_status!r} is not an HTTP status"
                    ) from None
                body = bytes(response).decode(errors="replace") if response else None
                out.attempts.append(
                    build_attempt(
                        event_id,
                        event_type,
                        endpoint_id,
                        numbers.get(row_id, 0),
                        created,
                        code,
                        None if latency is None else float(latency),
                        (error or None) if code is None else None,
                        Trigger.SCHEDULED,
                        body,
                    )
                )
            except LineError as exc:
                out.rejects.append((row_id, str(exc)))
        self._events(conn, {r[2] for r in rows}, out)
        return out

    def _numbers(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> dict[str, int]:
        """Each attempt's rank by (created_at, id) among the attempts of its event at its endpoint, deleted
        ones included, so numbers never shift when a row is soft-deleted later."""
        query = (
            "SELECT id, rn FROM ("
            " SELECT a.id, row_number() OVER (PARTITION BY d.event_id, a.endpoint_id ORDER BY a.created_at, a.id) AS rn"
            f" FROM {self.table('delivery_attempts')} a JOIN {self.table('event_deliveries')} d ON d.id = a.event_delivery_id"
            " WHERE d.event_id = ANY(%s)"
            ") r WHERE id = ANY(%s)"
        )
        found = conn.execute(query, (sorted({r[2] for r in rows}), [r[0] for r in rows])).fetchall()
        return dict(found)

    def _events(self, conn: Any, event_ids: set[str], out: Converted) -> None:
        wanted = self.unoffered(event_ids)
        if not wanted:
            return
        rows = conn.execute(
            f"SELECT id, event_type, {_MS.format('created_at')}, data, raw FROM {self.table('events')} WHERE id = ANY(%s)",
            (wanted,),
        ).fetchall()
        for event_id, event_type, created, data, raw in rows:
            body = bytes(data) if data is not None else (raw or "").encode()
            out.events.append(build_event(event_id, event_type, created, go_compact(body)))

    def endpoints(self, conn: Any) -> list[ImportedEndpoint]:
        cols = self.endpoint_columns
        where, params = ["true"], []
        if "deleted_at" in cols:
            where.append("deleted_at IS NULL")
        if self.scope_ids is not None:
            where.append("project_id = ANY(%s)")
            params.append(self.scope_ids)
        url = "url" if "url" in cols else "target_url"
        name = "name" if "name" in cols else "NULL"
        secrets = (
            "CASE WHEN jsonb_typeof(secrets) = 'array' THEN jsonb_array_length(secrets) ELSE 1 END"
            if "secrets" in cols
            else "1"
        )
        disabled = "status = 'inactive'" if "status" in cols else "false"
        rows = conn.execute(
            f"SELECT id, {url}, {name}, {secrets}, {disabled} FROM {self.table('endpoints')} "
            f"WHERE {' AND '.join(where)} ORDER BY id",
            params,
        ).fetchall()
        return [
            ImportedEndpoint(r[0], r[1], "convoy", r[2], max(1, int(r[3] or 1)), bool(r[4])) for r in rows
        ]
