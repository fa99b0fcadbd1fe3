"""A self-hosted Svix server's PostgreSQL tables, read-only (checked against svix-server 1.100.0; docs/sources.md).

What Svix writes: one `messageattempt` row per HTTP attempt, inserted once when the request has ended, its id
(a KSUID, `atmpt_…`) and `created_at` taken when it started, so a timed-out attempt commits up to the worker's
request timeout (30 s) after rows with later ids: the reader's window (`late_ms`) covers that. `status` is 0
(Success) or 2 (Fail); `attempt_number` counts from 0 (the first scheduled attempt), -1 on manual attempts
and on rows from servers older than 1.77; `response_duration_ms` is 0 on rows from servers older than 1.64.1
(`ended_at - created_at` is used then); `response_status_code` 0 means no response came (`response` is the
error text).

Mapping: event_id = the message id (`msg_…`, Svix's `webhook-id`), endpoint_id = `endp_id`, attempted_at =
`created_at`, attempt = `attempt_number` + 1 for scheduled rows (see `_numbers` for the others), payload bytes
from `messagecontent.payload`, else the compact JSON of `message.payload`, business fields through the URL's
field paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from console.domain.outcomes import Trigger
from console.ingest.lines import LineError
from console.ingest.log_files import SourceError
from console.sources.database import can_read, check_tables, epoch_ms
from console.sources.dispatcher import (
    FINAL,
    OPEN,
    ROW_HEAD,
    ROW_ID,
    Converted,
    Dispatcher,
    ImportedEndpoint,
)
from console.sources.imported_endpoints import svix_endpoints
from console.sources.records import build_attempt, build_event, failed_despite, go_compact
from console.sources.tenants import resolve_scope

SUCCESS, PENDING, FAIL, SENDING = 0, 1, 2, 3
SCHEDULED, MANUAL = 0, 1
SHAPE = "a Svix server database (tables message, messageattempt, endpoint, application; Svix 1.x)"
# The worker's request timeout (30 s) plus a margin: how long after its start an attempt row may commit.
DEFAULT_LATE_MS = 45_000


# The columns of an attempt row as `SvixSource.select` reads them, in its order, and the positions used.
ROW_COLUMNS = (
    *ROW_HEAD,
    "msg_id",
    "endp_id",
    "status",
    "code",
    "response",
    "trigger",
    "duration",
    "number",
    "event_type",
    "message_found",
)
_MSG_ID = ROW_COLUMNS.index("msg_id")
_STATUS = ROW_COLUMNS.index("status")
_TRIGGER = ROW_COLUMNS.index("trigger")
_NUMBER = ROW_COLUMNS.index("number")


class SvixSource(Dispatcher):
    kind = "svix"
    tenant_of_endpoint = ("endpoint", "app_id")
    attempts_table = "messageattempt"
    default_late_ms = DEFAULT_LATE_MS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_content = True
        self.number_column = "a.attempt_number"  # or a constant -1 on tables from before the column

    def prepare(self, conn: Any) -> None:
        scoped = self.url.options.get("app") is not None or self.url.options.get("org") is not None
        required = ("message", "messageattempt", "application") if scoped else ("message", "messageattempt")
        columns = check_tables(conn, self.url, required, SHAPE)
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
        self.has_content = "messagecontent" in columns and can_read(conn, self.url, "messagecontent")
        self.endpoint_table = "endpoint" in columns
        ended = "a.ended_at" if "ended_at" in attempt_columns else "NULL::timestamptz"
        measured = f"CASE WHEN {ended} IS NOT NULL THEN greatest(0, extract(epoch FROM ({ended} - a.created_at)) * 1000)::float8 END"
        if "response_duration_ms" in attempt_columns:
            # 0 on rows from before the column (its DEFAULT): the row's own start and end then
            duration = f"CASE WHEN a.response_duration_ms > 0 THEN a.response_duration_ms::float8 ELSE {measured} END"
        else:
            duration = measured
        self.number_column = "a.attempt_number" if "attempt_number" in attempt_columns else "(-1)::smallint"
        expressions = {
            "id": "a.id",
            "created": epoch_ms("a.created_at"),
            "msg_id": "a.msg_id",
            "endp_id": "a.endp_id",
            "status": "a.status",
            "code": "a.response_status_code",
            "response": "a.response",
            "trigger": "a.trigger_type",
            "duration": duration,
            "number": self.number_column,
            "event_type": "m.event_type",
            "message_found": "m.id IS NOT NULL",
        }
        self.select = (
            f"SELECT {', '.join(expressions[name] for name in ROW_COLUMNS)} "
            f"FROM {self.table('messageattempt')} a LEFT JOIN {self.table('message')} m ON m.id = a.msg_id"
        )
        if not scoped:
            return
        scope = resolve_scope(
            conn,
            self.url,
            kind="Svix application",
            name_label="uid",
            table=self.table("application"),
            name_column="uid",
            org_column="org_id",
            wanted=self.url.options.get("app"),
            org=self.url.options.get("org"),
            live="NOT deleted" if "deleted" in columns["application"] else "true",
        )
        if scope is not None:
            self.scope_column, self.scope_ids = "m.app_id", scope

    def row_state(self, row: tuple[Any, ...]) -> int:
        # Svix writes only ended attempts (0, 2); a row still Pending or Sending (servers before 1.x did) is
        # read again later. Anything else is final: `convert` rejects it with its reason.
        return OPEN if row[_STATUS] in (PENDING, SENDING) else FINAL

    def convert(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> Converted:
        out = Converted()
        numbers = self._numbers(
            conn, [r for r in rows if r[_TRIGGER] != SCHEDULED or r[_NUMBER] is None or r[_NUMBER] < 0]
        )
        created_of: dict[str, int] = {}
        for (  # ROW_COLUMNS
            row_id,
            created,
            msg_id,
            endp_id,
            status,
            code,
            response,
            trigger,
            duration,
            number,
            event_type,
            message_found,
        ) in rows:
            try:
                if not message_found:
                    raise LineError("msg_id", f"message {msg_id!r} not found in {self.url.schema}.message")
                if status not in (SUCCESS, FAIL):
                    raise LineError("status", f"{status!r} is not a Svix attempt status (0 Success, 2 Fail)")
                if created is None:
                    raise LineError("created_at", "missing or outside 1970-2100")
                if trigger not in (SCHEDULED, MANUAL):
                    raise LineError("trigger_type", f"{trigger!r} is not 0 (scheduled) or 1 (manual)")
                if trigger == SCHEDULED and number is not None and number >= 0:
                    attempt = number + 1
                else:
                    attempt = numbers.get(row_id, 0)
                if code is None:
                    raise LineError("response_status_code", "missing")
                code, error = (code or None), (response if not code else None)
                if status == FAIL:
                    code, error = failed_despite(code, error)
                out.attempts.append(
                    build_attempt(
                        msg_id,
                        event_type,
                        endp_id,
                        attempt,
                        created,
                        code,
                        duration,
                        error,
                        Trigger.MANUAL if trigger == MANUAL else Trigger.SCHEDULED,
                        response,
                    )
                )
                created_of.setdefault(msg_id, created)
            except LineError as exc:
                out.rejects.append((row_id, str(exc)))
        self._events(conn, created_of, out)
        return out

    def _numbers(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> dict[str, int]:
        """Numbers of the rows Svix did not number: a scheduled row from before `attempt_number` is its rank
        (by id) among the message's scheduled rows at the endpoint; a manual row comes after the scheduled
        attempts made before it (the highest number + 1, or their count), then in order, as hookconsole
        numbers its own replays (a message tried twice, then resent by hand, gets manual attempt 3)."""
        if not rows:
            return {}
        table = self.table("messageattempt")
        query = (
            "SELECT id, trigger_type, rn, sched FROM ("
            " SELECT id, trigger_type,"
            "  row_number() OVER (PARTITION BY msg_id, endp_id, trigger_type ORDER BY id) AS rn,"
            f"  greatest(coalesce(max(CASE WHEN trigger_type = 0 THEN {self.number_column} + 1 END) OVER w, 0),"
            "   count(*) FILTER (WHERE trigger_type = 0) OVER w) AS sched"
            f" FROM {table} a WHERE msg_id = ANY(%s)"
            " WINDOW w AS (PARTITION BY msg_id, endp_id ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
            ") r WHERE id = ANY(%s)"
        )
        result = conn.execute(
            query, (sorted({r[_MSG_ID] for r in rows}), [r[ROW_ID] for r in rows])
        ).fetchall()
        return {row_id: (sched + rn if trigger == MANUAL else rn) for row_id, trigger, rn, sched in result}

    def _events(self, conn: Any, created_of: dict[str, int], out: Converted) -> None:
        wanted = self.unoffered(set(created_of), out)
        if not wanted:
            return
        content = "c.payload" if self.has_content else "NULL::bytea"
        join = f" LEFT JOIN {self.table('messagecontent')} c ON c.id = m.id" if self.has_content else ""
        rows = conn.execute(
            f"SELECT m.id, m.event_type, {epoch_ms('m.created_at')}, {content}, m.payload::text "
            f"FROM {self.table('message')} m{join} WHERE m.id = ANY(%s)",
            (wanted,),
        ).fetchall()
        paths = self.url.field_paths
        for msg_id, event_type, created, body, legacy in rows:
            if body is not None:
                payload = bytes(body)
            elif legacy is not None:
                payload = go_compact(legacy.encode())  # jsonb's text, whitespace removed: what Svix sends
            else:
                payload = b""  # expired or expunged: the attempts are still counted
            try:
                out.events.append(
                    build_event(
                        msg_id,
                        event_type,
                        created if created is not None else created_of[msg_id],
                        payload,
                        paths,
                    )
                )
            except LineError:
                self.withdraw(msg_id, out)  # its attempts were rejected for the same reason

    def endpoints(self, conn: Any) -> list[ImportedEndpoint]:
        if not self.endpoint_table:
            raise SourceError(
                f"{self.url.display}: table {self.url.schema}.endpoint not found; expected {SHAPE}"
            )
        return svix_endpoints(conn, self.url, self.scope_ids)
