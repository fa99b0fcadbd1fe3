"""A self-hosted Svix server's PostgreSQL tables, read-only.

Mapping (docs/sources.md): event_id = the message id (`msg_…`, Svix's `webhook-id`), endpoint_id = `endp_id`,
attempted_at = `created_at`, status_code = `response_status_code` (0: no response, `response` is the error),
latency = `response_duration_ms`, trigger from `trigger_type`, attempt numbers from `attempt_number` (rows
from before that column, and manual attempts, are numbered by their order, see `_numbers`), payload bytes
from `messagecontent.payload`, else the compact JSON of `message.payload`. Only ended attempts (Success,
Fail) are stored; Pending and Sending ones are come back for (see `reader`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from console.domain.outcomes import Trigger
from console.ingest.lines import LineError
from console.ingest.sources import SourceError
from console.sources.database import check_tables
from console.sources.dispatcher import (
    FINAL,
    OPEN,
    SKIP,
    Converted,
    Dispatcher,
    ImportedEndpoint,
)
from console.sources.records import build_attempt, build_event

SUCCESS, PENDING, FAIL, SENDING = 0, 1, 2, 3
SCHEDULED, MANUAL = 0, 1
SHAPE = "a Svix server database (tables message, messageattempt, endpoint, application; Svix 1.x)"
_MS = "floor(extract(epoch FROM {}) * 1000)::bigint"


class SvixSource(Dispatcher):
    kind = "svix"
    attempts_table = "messageattempt"
    scope_column = "m.app_id"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_content = True

    def prepare(self, conn: Any) -> None:
        columns = check_tables(
            conn, self.url, ("message", "messageattempt", "endpoint", "application"), SHAPE
        )
        attempt_columns = columns["messageattempt"]
        missing = {
            "id",
            "created_at",
            "msg_id",
            "endp_id",
            "status",
            "response_status_code",
            "response",
            "trigger_type",
        } - attempt_columns
        if missing:
            raise SourceError(
                f"{self.url.display}: table {self.url.schema}.messageattempt lacks column(s) {', '.join(sorted(missing))}; expected {SHAPE}"
            )
        self.has_content = "messagecontent" in columns
        duration = "a.response_duration_ms" if "response_duration_ms" in attempt_columns else "NULL::bigint"
        number = "a.attempt_number" if "attempt_number" in attempt_columns else "(-1)::smallint"
        self.number_column = "attempt_number" if "attempt_number" in attempt_columns else "(-1)"
        self.select = (
            f"SELECT a.id, {_MS.format('a.created_at')}, a.msg_id, a.endp_id, a.status, a.response_status_code, "
            f"a.response, a.trigger_type, {duration}, {number}, m.event_type "
            f"FROM {self.table('messageattempt')} a JOIN {self.table('message')} m ON m.id = a.msg_id"
        )
        app = self.url.options.get("app")
        if app is not None:
            found = conn.execute(
                f"SELECT id FROM {self.table('application')} WHERE id = %s OR uid = %s", (app, app)
            ).fetchall()
            if not found:
                raise SourceError(f"{self.url.display}: no Svix application with id or uid {app!r}")
            self.scope_ids = [r[0] for r in found]

    def row_state(self, row: tuple[Any, ...]) -> int:
        status = row[4]
        if status in (SUCCESS, FAIL):
            return FINAL
        return OPEN if status in (PENDING, SENDING) else SKIP

    def convert(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> Converted:
        out = Converted()
        numbers = self._numbers(conn, [r for r in rows if r[7] != SCHEDULED or r[9] is None or r[9] < 1])
        for (
            row_id,
            created,
            msg_id,
            endp_id,
            _status,
            code,
            response,
            trigger,
            duration,
            number,
            event_type,
        ) in rows:
            if trigger == SCHEDULED and number is not None and number >= 1:
                attempt = number
            else:
                attempt = numbers.get(row_id, 0)
            try:
                out.attempts.append(
                    build_attempt(
                        msg_id,
                        event_type,
                        endp_id,
                        attempt,
                        created,
                        code or None,
                        duration,
                        response if not code else None,
                        Trigger.MANUAL if trigger == MANUAL else Trigger.SCHEDULED,
                        response,
                    )
                )
            except LineError as exc:
                out.rejects.append((row_id, str(exc)))
        self._events(conn, {r[2] for r in rows}, out)
        return out

    def _numbers(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> dict[str, int]:
        """Numbers for manual attempts (after the scheduled attempts made before them, then in order, as
        hookconsole numbers its replays) and for scheduled rows without a number (their order)."""
        if not rows:
            return {}
        table = self.table("messageattempt")
        query = (
            "SELECT id, trigger_type, rn, sched FROM ("
            " SELECT id, trigger_type,"
            "  row_number() OVER (PARTITION BY msg_id, endp_id, trigger_type ORDER BY id) AS rn,"
            f"  greatest(coalesce(max(CASE WHEN trigger_type = 0 THEN {self.number_column} END) OVER w, 0),"
            "   count(*) FILTER (WHERE trigger_type = 0) OVER w) AS sched"
            f" FROM {table} WHERE msg_id = ANY(%s)"
            " WINDOW w AS (PARTITION BY msg_id, endp_id ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
            ") r WHERE id = ANY(%s)"
        )
        result = conn.execute(query, (sorted({r[2] for r in rows}), [r[0] for r in rows])).fetchall()
        return {row_id: (sched + rn if trigger == MANUAL else rn) for row_id, trigger, rn, sched in result}

    def _events(self, conn: Any, msg_ids: set[str], out: Converted) -> None:
        wanted = self.unoffered(msg_ids)
        if not wanted:
            return
        content = "c.payload" if self.has_content else "NULL::bytea"
        join = f" LEFT JOIN {self.table('messagecontent')} c ON c.id = m.id" if self.has_content else ""
        rows = conn.execute(
            f"SELECT m.id, m.event_type, {_MS.format('m.created_at')}, {content}, m.payload::text "
            f"FROM {self.table('message')} m{join} WHERE m.id = ANY(%s)",
            (wanted,),
        ).fetchall()
        for msg_id, event_type, created, body, legacy in rows:
            if body is not None:
                payload = bytes(body)
            elif legacy is not None:
                payload = orjson.dumps(orjson.loads(legacy))
            else:
                payload = b""  # expired or expunged: the attempts are still counted
            out.events.append(build_event(msg_id, event_type, created, payload))

    def endpoints(self, conn: Any) -> list[ImportedEndpoint]:
        where = "WHERE NOT e.deleted"
        params: list[Any] = []
        if self.scope_ids is not None:
            where += " AND e.app_id = ANY(%s)"
            params.append(self.scope_ids)
        rows = conn.execute(
            f"SELECT e.id, e.url, e.uid, e.disabled FROM {self.table('endpoint')} e {where} ORDER BY e.id",
            params,
        ).fetchall()
        return [ImportedEndpoint(r[0], r[1], "standard", r[2], 1, bool(r[3])) for r in rows]
