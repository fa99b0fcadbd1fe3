"""What leaves the backlog per bucket, kept at ingest (schema version 9): `closed_minute` and `closed_hour` count,
per bucket x endpoint x event type, the deliveries first delivered in that bucket (`closed`), so the report's
backlog chart reads buckets instead of the window's deliveries and attempts (docs/report.md, "Backlog over time").

The rollups count a delivery in the bucket of its first attempt (`deliveries`, `delivered`); these tables count
it again in the bucket of its delivery. The writer keeps them by the rollups' rule: a delivery's contribution is
a function of its state, the old state's is taken out and the new one's put in (an earlier success arriving
later moves it), so duplicates, out-of-order attempts and replay results keep them exact.

Prune takes deliveries away while the rollups keep their history. So that the backlog stays what the
deliveries left say, a pruned delivery's close moves to the bucket of its first attempt (opened and closed in
one bucket: it never shows in the backlog), and a delivery pruned undelivered is counted in `pruned` there.
The rollups' horizon (`prune --rollups-older-than`) removes these rows with theirs.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from console.domain.times import MS_PER_MINUTE
from console.store.bucket_merge import stored_rows
from console.store.dialect import Dialect, dialect_for

ClosedKey = tuple[int, str, str]  # (minute, endpoint_id, event_type)
MINUTES_PER_HOUR = 60
_TABLES = (("closed_minute", 1), ("closed_hour", MINUTES_PER_HOUR))  # (table, minutes per bucket)
_COLUMNS = ("bucket", "endpoint_id", "event_type", "closed", "pruned")


def merge(
    conn: Connection,
    dialect: Dialect,
    closed: dict[ClosedKey, int],
    pruned: dict[ClosedKey, int] | None = None,
) -> None:
    """Add signed counts per minute (`closed`, `pruned`) into both tables; keys that come to 0 are skipped."""
    pruned = pruned or {}
    for table, minutes in _TABLES:
        sums: dict[ClosedKey, list[int]] = {}
        for counts, position in ((closed, 0), (pruned, 1)):
            for (minute, endpoint_id, event_type), n in counts.items():
                if n:
                    _add(sums, (minute // minutes, endpoint_id, event_type), position, n)
        _merge_table(conn, dialect, table, {key: (c, r) for key, (c, r) in sums.items() if c or r})


def _merge_table(
    conn: Connection, dialect: Dialect, table: str, sums: dict[ClosedKey, tuple[int, int]]
) -> None:
    """Add the sums into `table` as the rollups are merged: the stored rows of their buckets are read, those
    found updated (executemany), the others bulk-inserted (COPY on PostgreSQL): most keys of a batch are new."""
    if not sums:
        return
    p = dialect.placeholder
    stored = stored_rows(conn, dialect, table, _COLUMNS[:3], _COLUMNS[3:], sums)
    updates = [
        (stored[key][0] + c, stored[key][1] + r, *key) for key, (c, r) in sums.items() if key in stored
    ]
    if updates:
        conn.exec_driver_sql(
            f"UPDATE {table} SET closed = {p}, pruned = {p} "
            f"WHERE bucket = {p} AND endpoint_id = {p} AND event_type = {p}",
            updates,
        )
    inserts = [(*key, c, r) for key, (c, r) in sums.items() if key not in stored]
    dialect.bulk_insert(conn, table, _COLUMNS, inserts)


def _add(sums: dict[ClosedKey, list[int]], key: ClosedKey, position: int, n: int) -> None:
    entry = sums.get(key)
    if entry is None:
        entry = sums[key] = [0, 0]
    entry[position] += n


def before_deliveries_deleted(conn: Connection, dialect: Dialect, keys: str) -> None:
    """Prune is about to delete the deliveries whose (event_id, endpoint_id) the query `keys` selects: move a
    delivered one's close to the minute of its first attempt, count an undelivered one as pruned there."""
    closed: dict[ClosedKey, int] = {}
    pruned: dict[ClosedKey, int] = {}
    rows = conn.exec_driver_sql(
        "SELECT endpoint_id, event_type, first_attempt_at, delivered_at FROM delivery "
        f"WHERE (event_id, endpoint_id) IN ({keys})"
    )
    for endpoint_id, event_type, first_at, delivered_at in rows:
        first = (int(first_at) // MS_PER_MINUTE, endpoint_id, event_type)
        if delivered_at is None:
            pruned[first] = pruned.get(first, 0) + 1
            continue
        done = (int(delivered_at) // MS_PER_MINUTE, endpoint_id, event_type)
        closed[done] = closed.get(done, 0) - 1
        closed[first] = closed.get(first, 0) + 1
    merge(conn, dialect, closed, pruned)


def fill(conn: Connection) -> None:
    """Fill both tables from the stored deliveries (the upgrade to version 9), grouped by the database. Deliveries
    pruned before are still in the rollups: per first-attempt bucket, the rollups' counts beyond the stored
    deliveries' are the pruned ones, delivered (`closed` there) or not (`pruned`)."""
    dialect = dialect_for(conn.dialect.name)
    for (table, minutes), rollup in zip(_TABLES, ("rollup_minute", "rollup_hour"), strict=True):
        width = minutes * MS_PER_MINUTE
        sums: dict[ClosedKey, list[int]] = {}
        for bucket, endpoint_id, event_type, n in conn.exec_driver_sql(
            f"SELECT delivered_at / {width}, endpoint_id, event_type, COUNT(*) FROM delivery "
            "WHERE delivered_at IS NOT NULL GROUP BY 1, 2, 3"
        ):
            _add(sums, (int(bucket), endpoint_id, event_type), 0, int(n))
        stored = {
            (int(bucket), endpoint_id, event_type): (int(n), int(done))
            for bucket, endpoint_id, event_type, n, done in conn.exec_driver_sql(
                f"SELECT first_attempt_at / {width}, endpoint_id, event_type, COUNT(*), COUNT(delivered_at) "
                "FROM delivery GROUP BY 1, 2, 3"
            )
        }
        for bucket, endpoint_id, event_type, n, done in conn.exec_driver_sql(
            f"SELECT bucket, endpoint_id, event_type, SUM(deliveries), SUM(delivered) FROM {rollup} "
            "GROUP BY bucket, endpoint_id, event_type"
        ):
            key = (int(bucket), endpoint_id, event_type)
            kept, kept_done = stored.get(key, (0, 0))
            gone_done = int(done) - kept_done
            gone_open = int(n) - int(done) - (kept - kept_done)
            if gone_done >= 0 and gone_open >= 0:  # (fewer: rows of a bucket the rollups' horizon removed)
                _add(sums, key, 0, gone_done)
                _add(sums, key, 1, gone_open)
        rows = [(*key, c, r) for key, (c, r) in sums.items() if c or r]
        p = dialect.placeholder
        conn.exec_driver_sql(f"DELETE FROM {table}")
        if rows:
            conn.exec_driver_sql(
                f"INSERT INTO {table} (bucket, endpoint_id, event_type, closed, pruned) "
                f"VALUES ({p}, {p}, {p}, {p}, {p})",
                rows,
            )
