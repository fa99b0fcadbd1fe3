"""What a replay selection means for the business, in SQL: users, rewards, amounts, time span, superseded events,
and each endpoint's recent latency (for the expected time to drain).

The selection is the replay's own (a filter, optional chosen pairs, a limit, oldest first); the figures cover the
deliveries that would be sent (not the ones already delivered, unless forced).

Superseded: an event whose ordering key (its reward id; its user id when it has no reward id) has a newer event
(later `occurred_at`) already delivered to the same endpoint. Replaying it would put the receiver back into an
older state (the classic: `reward.redeemed` sent again after `reward.reversed` was delivered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from console.domain.filters import DeliveryFilter
from console.store.deliveries import filter_clause
from console.store.engine import Store

RECENT_MINUTES = 60  # recent latency: the store's last hour of traffic (an endpoint silent then has none)


@dataclass(frozen=True)
class ImpactFigures:
    deliveries: int = 0
    users: int = 0
    rewards: int = 0
    amounts: dict[str, str] = field(default_factory=dict)  # currency ('' when none) -> total amount
    oldest_ms: int | None = None
    newest_ms: int | None = None
    superseded: dict[str, int] = field(default_factory=dict)  # endpoint -> superseded deliveries to send
    superseded_sample: tuple[tuple[str, str, str], ...] = ()  # the first (event, endpoint, newer event)
    latency_ms: dict[str, float] = field(default_factory=dict)  # endpoint -> recent mean latency
    events: int = 0  # distinct events of the selection
    missing: dict[str, int] = field(default_factory=dict)  # user/reward/amount -> events without it


def pairs_clause(store: Store, pairs: Sequence[tuple[str, str]]) -> tuple[str, list[Any]]:
    """The condition that keeps the deliveries `d` of these (event id, endpoint id) pairs, with its parameters."""
    return store.dialect.in_list(
        "(d.event_id || '|' || d.endpoint_id)", [f"{e}|{ep}" for e, ep in pairs] or [""]
    )


def _selection_cte(
    store: Store, flt: DeliveryFilter, pairs: Sequence[tuple[str, str]] | None, limit: int | None, force: bool
) -> tuple[str, list[Any]]:
    """`sel` (materialised once): the deliveries of the selection to send, each with its amount as a number."""
    where, params = filter_clause(store.dialect, flt)
    if pairs is not None:
        clause, pair_params = pairs_clause(store, pairs)
        where += f" AND {clause}"
        params += pair_params
    columns = (
        "d.event_id, d.endpoint_id, e.user_id, e.reward_id, e.currency, e.occurred_at, "
        f"{_numeric(store, 'e.amount')} AS amount_n"
    )
    joined = f"FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE {where}"
    if limit is None or force:  # the deliveries to send are a plain filter: read them once
        limited = (
            f" ORDER BY d.first_attempt_at, d.event_id, d.endpoint_id LIMIT {int(limit)}" if limit else ""
        )
        sending = "" if force else " AND d.delivered_at IS NULL"
        return f"WITH sel AS MATERIALIZED (SELECT {columns} {joined}{sending}{limited}), ", params
    # the limit counts delivered deliveries too (as the plan does); those to send are taken from what it keeps
    picked = (
        f"SELECT {columns}, d.delivered_at {joined} ORDER BY d.first_attempt_at, d.event_id, d.endpoint_id "
        f"LIMIT {int(limit)}"
    )
    sel = "SELECT * FROM picked WHERE delivered_at IS NULL"
    return f"WITH picked AS ({picked}), sel AS MATERIALIZED ({sel}), ", params


def _numeric(store: Store, column: str) -> str:
    """The amount as a number, NULL when it is not one (amounts are free text in the log)."""
    if store.dialect.name == "postgresql":
        return f"CASE WHEN {column} ~ '^\\s*-?[0-9]+(\\.[0-9]+)?\\s*$' THEN CAST({column} AS NUMERIC) END"
    return f"CASE WHEN {column} GLOB '*[0-9]*' AND {column} NOT GLOB '*[^0-9.-]*' THEN CAST({column} AS REAL) END"


def _newest(kind: str, column: str, same: str, keyed: str) -> str:
    """Per (key, endpoint) of `sel`: the newest event of that key delivered to that endpoint: one index walk
    per pair (the event's (key, occurred_at, event_id) index, newest first), not one per selected delivery."""
    return (
        f"SELECT '{kind}' AS kind, k.key_id, k.endpoint_id, (SELECT n.event_id FROM event n JOIN delivery nd "
        f"ON nd.event_id = n.event_id AND nd.endpoint_id = k.endpoint_id WHERE n.{column} = k.key_id{same} "
        "AND nd.delivered_at IS NOT NULL ORDER BY n.occurred_at DESC, n.event_id DESC LIMIT 1) AS newer "
        f"FROM (SELECT DISTINCT {column} AS key_id, endpoint_id FROM sel WHERE {keyed}) k"
    )


# `newest`: each pair's newer event with its time, looked up by id (a hash join would read every event); `sel` the
# deliveries to send
SUPERSEDING = (
    "latest AS MATERIALIZED ("
    + _newest("r", "reward_id", "", "reward_id IS NOT NULL")
    + " UNION ALL "
    + _newest("u", "user_id", " AND n.reward_id IS NULL", "reward_id IS NULL AND user_id IS NOT NULL")
    + "), newest AS MATERIALIZED (SELECT kind, key_id, endpoint_id, newer, (SELECT ne.occurred_at FROM event ne "
    "WHERE ne.event_id = l.newer) AS newer_at FROM latest l WHERE newer IS NOT NULL) "
)


# `superseded`: the deliveries of `sel` a newer event supersedes, with that event
_SUPERSEDED = (
    "superseded AS MATERIALIZED ("
    + " UNION ALL ".join(
        "SELECT s.event_id, s.endpoint_id, w.newer "
        # CROSS JOIN: SQLite reads sel first (keyed filters it) and looks up `newest`, never indexing sel
        f"FROM sel s CROSS JOIN newest w WHERE {keyed} AND w.kind = '{kind}' AND w.key_id = s.{column} "
        "AND w.endpoint_id = s.endpoint_id AND w.newer_at > s.occurred_at"
        for kind, column, keyed in (
            ("r", "reward_id", "s.reward_id IS NOT NULL"),
            ("u", "user_id", "s.reward_id IS NULL"),
        )
    )
    + ") "
)


def _superseded_rows(store: Store, n: str, num: str, dbl: str, sample: int) -> str:
    """How many superseded deliveries each endpoint has, and the first `sample` of them by (event id, endpoint
    id) as Python orders strings (codepoint by codepoint) with their newer events: never the whole list."""
    binary = ' COLLATE "C"' if store.dialect.name == "postgresql" else ""
    return (
        f"SELECT 'superseded', endpoint_id, {_NULLS}, {_NULLS}, COUNT(*), {n}, {n}, {n}, {n}, {num}, {dbl} "
        f"FROM superseded GROUP BY endpoint_id UNION ALL SELECT 'sample', event_id, endpoint_id, newer, {n}, {n}, "
        f"{n}, {n}, {n}, {num}, {dbl} FROM (SELECT event_id, endpoint_id, newer FROM superseded ORDER BY "
        f"event_id{binary}, endpoint_id{binary} LIMIT {int(sample)}) shown"
    )


_NULLS = "CAST(NULL AS TEXT)"


def replay_impact(
    store: Store,
    flt: DeliveryFilter,
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    limit: int | None = None,
    force: bool = False,
    sample: int = 5,
) -> ImpactFigures:
    """The impact figures of a replay selection (see the module docstring), in one statement: the selection is
    read once, then summed, grouped by currency, checked for superseded events, and matched with latencies."""
    cte, params = _selection_cte(store, flt, pairs, limit, force)
    p = store.dialect.placeholder
    t, n, num, dbl = _NULLS, "CAST(NULL AS BIGINT)", "CAST(NULL AS NUMERIC)", "CAST(NULL AS DOUBLE PRECISION)"
    sql = (
        f"{cte}{SUPERSEDING}, {_SUPERSEDED}"
        # users: DISTINCT in a subquery, which PostgreSQL hashes (COUNT(DISTINCT) sorts); rewards: `latest`'s
        # reward keys, a few thousand pairs to count rather than the whole selection
        f"SELECT 'summary', {t}, {t}, {t}, COUNT(*), "
        "(SELECT COUNT(*) FROM (SELECT DISTINCT user_id FROM sel WHERE user_id IS NOT NULL) u), "
        "(SELECT COUNT(DISTINCT key_id) FROM latest WHERE kind = 'r'), "
        f"MIN(occurred_at), MAX(occurred_at), {num}, {dbl} FROM sel "
        f"UNION ALL SELECT 'amount', COALESCE(currency, ''), {t}, {t}, {n}, {n}, {n}, {n}, {n}, SUM(amount_n), {dbl} "
        "FROM sel WHERE amount_n IS NOT NULL GROUP BY COALESCE(currency, '') "
        # the events no field path gave a user, a reward or an amount: the preview says so rather than "0 users"
        f"UNION ALL SELECT 'missing', {t}, {t}, {t}, COUNT(*), "
        "SUM(CASE WHEN user_id IS NULL THEN 1 ELSE 0 END), SUM(CASE WHEN reward_id IS NULL THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN amount_n IS NULL THEN 1 ELSE 0 END), {n}, {num}, {dbl} "
        "FROM (SELECT DISTINCT event_id, user_id, reward_id, amount_n FROM sel) ev "
        f"UNION ALL {_superseded_rows(store, n, num, dbl, sample)} "
        f"UNION ALL SELECT 'latency', r.endpoint_id, {t}, {t}, SUM(r.latency_count), {n}, {n}, {n}, {n}, {num}, "
        # the upper bound always holds: it tells PostgreSQL's planner this is a narrow range (an index scan)
        "SUM(r.latency_sum) FROM rollup_minute r WHERE r.bucket > (SELECT MAX(bucket) FROM rollup_minute) - "
        f"{p} AND r.bucket <= (SELECT MAX(bucket) FROM rollup_minute) "
        "AND r.endpoint_id IN (SELECT DISTINCT endpoint_id FROM sel) GROUP BY r.endpoint_id"
    )
    figures = ImpactFigures()
    samples: list[tuple[str, str, str]] = []
    with store.read() as conn:
        if store.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL jit = off")  # compiling this statement costs more than it saves
        rows = conn.exec_driver_sql(sql, (*params, RECENT_MINUTES)).fetchall()
    for kind, t1, t2, t3, n1, n2, n3, n4, n5, amount, latency_sum in rows:
        if kind == "summary":
            figures = replace(
                figures, deliveries=int(n1), users=int(n2), rewards=int(n3), oldest_ms=n4, newest_ms=n5
            )
        elif kind == "missing":
            missing = {"user": n2, "reward": n3, "amount": n4}
            figures = replace(figures, events=int(n1), missing={k: int(v) for k, v in missing.items() if v})
        elif kind == "amount" and amount is not None:
            figures.amounts[t1] = _decimal(amount)
        elif kind == "superseded":
            figures.superseded[t1] = int(n1)
        elif kind == "sample":
            samples.append((t1, t2, t3))
        elif kind == "latency" and n1:
            figures.latency_ms[t1] = float(latency_sum) / int(n1)
    return replace(figures, superseded_sample=tuple(sorted(samples)))


def _decimal(value: Any) -> str:
    number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    text = format(number.quantize(Decimal("0.000001")).normalize(), "f")
    return text
