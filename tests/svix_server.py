"""Svix-shaped rows written the way svix-server 1.100.0's worker writes them (server/svix-server/src/worker.rs
at commit 4fc0cfb8), into the tables of `tests/svix_ddl.py`, in any of the three eras of those tables.

- ids are prefixed KsuidMs (`atmpt_…`): 4 bytes of seconds since 1400000000, one byte of 4 ms units, 15
  random bytes, base62 to 27 characters; ids sort by start time to 4 ms;
- an attempt row is inserted once, when its request has ended, with `id` and `created_at` of its start,
  `response_duration_ms` up to the response headers, `ended_at` after the body; status 0 (2xx) or 2;
- `attempt_number` 0 for the first scheduled attempt, +1 per retry, -1 for manual resends (trigger 1);
- `response_status_code` 0 and the error text in `response` when no response came.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from tests.svix_ddl import DDL_BEFORE_ATTEMPT_NUMBER, DDL_BEFORE_DURATION, DDL_CURRENT

SUCCESS, PENDING, FAIL, SENDING = 0, 1, 2, 3
SCHEDULED, MANUAL = 0, 1
ERAS = {
    "current": DDL_CURRENT,
    "before_number": DDL_BEFORE_ATTEMPT_NUMBER,
    "before_duration": DDL_BEFORE_DURATION,
}
# The literal texts the worker stores when no response came (src/core/webhook_http_client.rs).
TIMED_OUT = "request timed out"
CONNECT_FAILED = "error making request: client error (Connect)"
SEND_FAILED = "error making request: client error (SendRequest)"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KSUID_EPOCH = 1_400_000_000


def ksuid_ms(prefix: str, at: datetime, rng: random.Random) -> str:
    ms = int(at.timestamp() * 1000)
    raw = (ms // 1000 - _KSUID_EPOCH).to_bytes(4, "big") + bytes([(ms % 1000) // 4]) + rng.randbytes(15)
    number, text = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 62)
        text = _B62[digit] + text
    return f"{prefix}_{text.rjust(27, '0')}"


class SvixTables:
    """A Svix server's tables in one schema; `apps` maps app id -> (org id, uid, endpoint ids)."""

    def __init__(
        self, conn: Any, apps: Mapping[str, tuple[str, str, tuple[str, ...]]], era: str = "current"
    ) -> None:
        self.conn = conn
        self.era = era
        self.rng = random.Random(7)
        conn.execute(ERAS[era])
        created = datetime(2026, 1, 1).astimezone()
        for app_id, (org_id, uid, endpoints) in apps.items():
            conn.execute(
                "INSERT INTO application (id, created_at, updated_at, org_id, uid, name, deleted) "
                "VALUES (%s, %s, %s, %s, %s, %s, false)",
                (app_id, created, created, org_id, uid, uid),
            )
            for endpoint in endpoints:
                conn.execute(
                    "INSERT INTO endpoint (id, created_at, updated_at, app_id, key, url, description, version, "
                    "deleted, disabled, uid) VALUES (%s, %s, %s, %s, %s, %s, '', 1, false, false, %s)",
                    (
                        endpoint,
                        created,
                        created,
                        app_id,
                        b"secret-key-bytes",
                        f"https://{endpoint}.example.com/hooks",
                        endpoint[3:],
                    ),
                )
        self.org_of = {app: org for app, (org, _uid, _eps) in apps.items()}

    def message(
        self,
        app_id: str,
        at: datetime,
        body: bytes,
        legacy: bool = False,
        event_type: str = "reward.redeemed",
    ) -> str:
        """A message as `create_message` writes it: its bytes in messagecontent (a `legacy` one: jsonb in
        message.payload, as servers before messagecontent did)."""
        msg_id = ksuid_ms("msg", at, self.rng)
        expires = at + timedelta(days=90)
        self.conn.execute(
            "INSERT INTO message (id, created_at, org_id, app_id, event_type, payload, expiration) "
            "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)",
            (msg_id, at, self.org_of[app_id], app_id, event_type, body.decode() if legacy else None, expires),
        )
        if not legacy:
            self.conn.execute(
                "INSERT INTO messagecontent VALUES (%s, %s, %s, %s)", (msg_id, at, body, expires)
            )
        return msg_id

    def attempt(
        self,
        msg_id: str,
        endpoint: str,
        at: datetime,
        code: int,
        response: str,
        duration_ms: int,
        number: int,
        trigger: int = SCHEDULED,
        status: int | None = None,
    ) -> str:
        """One ended attempt started at `at`: `code` 0 when no response came (`response` the error text);
        `number` Svix's attempt_number (0 first, -1 manual)."""
        attempt_id = ksuid_ms("atmpt", at, self.rng)
        if status is None:
            status = SUCCESS if 200 <= code < 300 else FAIL
        ended = at + timedelta(milliseconds=duration_ms + 1)
        columns = {
            "id": attempt_id,
            "created_at": at,
            "msg_id": msg_id,
            "endp_id": endpoint,
            "url": f"https://{endpoint}.example.com/hooks",
            "status": status,
            "response_status_code": code,
            "response": response,
            "ended_at": ended,
            "trigger_type": trigger,
        }
        if self.era == "current":
            columns["attempt_number"] = number
            columns["next_attempt"] = (
                at + timedelta(seconds=5) if status == FAIL and trigger == SCHEDULED else None
            )
        else:
            columns["msg_dest_id"] = self._destination(msg_id, endpoint, at, status)
        if self.era != "before_duration":
            columns["response_duration_ms"] = duration_ms
        names = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        self.conn.execute(f"INSERT INTO messageattempt ({names}) VALUES ({marks})", tuple(columns.values()))
        return attempt_id

    def _destination(self, msg_id: str, endpoint: str, at: datetime, status: int) -> str:
        """Servers before 1.77 kept one messagedestination row per message and endpoint."""
        found = self.conn.execute(
            "SELECT id FROM messagedestination WHERE msg_id = %s AND endp_id = %s", (msg_id, endpoint)
        ).fetchone()
        if found:
            self.conn.execute(
                "UPDATE messagedestination SET status = %s, updated_at = %s WHERE id = %s",
                (status, at, found[0]),
            )
            return str(found[0])
        dest = ksuid_ms("msgep", at, self.rng)
        self.conn.execute(
            "INSERT INTO messagedestination VALUES (%s, %s, %s, %s, %s, %s, NULL)",
            (dest, at, at, msg_id, endpoint, status),
        )
        return dest
