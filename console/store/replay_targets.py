"""Attempts of replays sent to another target (`replay --to URL`): a staging or local receiver.

They are kept here, not in delivery_attempt, and never go through the write path of attempts
(`console.store.writer`): the real endpoint's delivery states, rollups and every figure read from
delivery_attempt stay as they were. The job's items still record how each send ended.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from console.domain.records import AttemptRecord
from console.store.tables import replay_target_attempt

COLUMNS = tuple(c.name for c in replay_target_attempt.c if c.name != "seq")


def write_target_attempts(
    conn: Connection, p: str, job_id: str, target_url: str, attempts: Sequence[AttemptRecord]
) -> None:
    """Store a redirected job's attempts, numbered after that job's earlier attempts at the same item."""
    if not attempts:
        return
    highest: dict[tuple[str, str], int] = {}
    rows = []
    for a in attempts:
        key = (a.event_id, a.endpoint_id)
        if key not in highest:
            highest[key] = int(
                conn.exec_driver_sql(
                    "SELECT COALESCE(MAX(attempt), 0) FROM replay_target_attempt "
                    f"WHERE job_id = {p} AND event_id = {p} AND endpoint_id = {p}",
                    (job_id, a.event_id, a.endpoint_id),
                ).scalar_one()
            )
        highest[key] += 1
        error = a.error.replace("\x00", "\ufffd") if a.error else a.error
        rows.append(
            (
                job_id,
                a.event_id,
                a.endpoint_id,
                target_url,
                highest[key],
                a.attempted_at_ms,
                str(a.outcome),
                a.status_code,
                a.latency_ms,
                error,
            )
        )
    cols = ", ".join(COLUMNS)
    marks = ", ".join(p for _ in COLUMNS)
    conn.exec_driver_sql(f"INSERT INTO replay_target_attempt ({cols}) VALUES ({marks})", rows)
