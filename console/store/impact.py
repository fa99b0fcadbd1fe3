"""What a replay selection means for the business, in SQL: users, rewards, amounts, time span, superseded events,
and each endpoint's latency when it answers (for the expected time to drain).

The selection is the replay's own (a filter, optional chosen pairs, a limit, oldest first); the figures cover the
deliveries that would be sent (not the ones already delivered, unless forced; not the superseded ones when they
are skipped). Users, rewards and amounts count each event once, however many endpoints it goes to.

Superseded: an event whose ordering key (its reward id; its user id when it has no reward id) has a newer event
(later `occurred_at`) already delivered to the same endpoint. Replaying it would put the receiver back into an
older state (the classic: `reward.redeemed` sent again after `reward.reversed` was delivered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from console.domain.filters import DeliveryFilter
from console.domain.replay import ReplayImpact
from console.store.deliveries import filter_clause
from console.store.engine import Store

RECENT_MINUTES = 60  # recent latency: the store's last hour of traffic (an endpoint silent then has none)
HEALTHY_HOURS = 7 * 24  # else its latency in the hours it mostly answered 2xx, over the store's last week


@dataclass(frozen=True)
class ImpactFigures:
    """A selection's impact (its `superseded`: the total), and what a plan needs of it per endpoint."""

    impact: ReplayImpact = field(default_factory=ReplayImpact)
    superseded: dict[str, int] = field(default_factory=dict)  # endpoint -> superseded deliveries to send
    latency_ms: dict[str, float] = field(default_factory=dict)  # endpoint -> mean latency when it answers


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


def _latency_rows(store: Store, sending: str, t: str, n: str, num: str) -> str:
    """Each endpoint's latency when it answers: its recent rows that mostly succeeded ('ok'), else its mostly
    successful hours of the last week ('hour'), else every recent row ('any'). An outage's fast failures (a 503
    in 1 ms) would otherwise promise a drain far faster than the recovered endpoint gives."""
    p = store.dialect.placeholder
    parts = []
    for kind, table, span, healthy in (
        ("ok", "rollup_minute", p, True),
        ("hour", "rollup_hour", str(HEALTHY_HOURS), True),
        ("any", "rollup_minute", p, False),
    ):
        condition = " AND 2 * r.successes >= r.attempts" if healthy else ""
        parts.append(
            f"SELECT 'latency', r.endpoint_id, '{kind}', {t}, SUM(r.latency_count), {n}, {n}, {n}, {n}, {num}, "
            # the upper bound always holds: it tells PostgreSQL's planner this is a narrow range (an index scan)
            f"SUM(r.latency_sum) FROM {table} r WHERE r.bucket > (SELECT MAX(bucket) FROM {table}) - {span} "
            f"AND r.bucket <= (SELECT MAX(bucket) FROM {table}) AND r.endpoint_id IN (SELECT DISTINCT "
            f"endpoint_id FROM {sending}){condition} GROUP BY r.endpoint_id"
        )
    return " UNION ALL ".join(parts)


def replay_impact(
    store: Store,
    flt: DeliveryFilter,
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    limit: int | None = None,
    force: bool = False,
    skip_superseded: bool = False,
    sample: int = 5,
) -> ImpactFigures:
    """The impact figures of a replay selection (see the module docstring), in one statement: the selection is
    read once, checked for superseded events, then counted per event (`ev`: one 500 INR redemption planned to six
    endpoints is 500 INR), grouped by currency, and matched with latencies. `skip_superseded`: the figures cover
    what is sent without the superseded deliveries (still counted apart, per endpoint)."""
    cte, params = _selection_cte(store, flt, pairs, limit, force)
    t, n, num, dbl = _NULLS, "CAST(NULL AS BIGINT)", "CAST(NULL AS NUMERIC)", "CAST(NULL AS DOUBLE PRECISION)"
    sending = "sel"
    if skip_superseded:
        sending = "sending"
        cte_sending = (
            ", sending AS MATERIALIZED (SELECT * FROM sel s WHERE NOT EXISTS (SELECT 1 FROM superseded x "
            "WHERE x.event_id = s.event_id AND x.endpoint_id = s.endpoint_id)) "
        )
    else:
        cte_sending = " "
    sql = (
        f"{cte}{SUPERSEDING}, {_SUPERSEDED}{cte_sending}"
        # one row per event of what is sent (its fields are the event's): users, rewards and money once each
        f", ev AS MATERIALIZED (SELECT DISTINCT event_id, user_id, reward_id, currency, amount_n FROM {sending}) "
        # users and rewards: DISTINCT in a subquery, which PostgreSQL hashes (COUNT(DISTINCT) sorts)
        f"SELECT 'summary', {t}, {t}, {t}, COUNT(*), "
        "(SELECT COUNT(*) FROM (SELECT DISTINCT user_id FROM ev WHERE user_id IS NOT NULL) u), "
        "(SELECT COUNT(*) FROM (SELECT DISTINCT reward_id FROM ev WHERE reward_id IS NOT NULL) r), "
        f"MIN(occurred_at), MAX(occurred_at), {num}, {dbl} FROM {sending} "
        f"UNION ALL SELECT 'amount', COALESCE(currency, ''), {t}, {t}, {n}, {n}, {n}, {n}, {n}, SUM(amount_n), {dbl} "
        "FROM ev WHERE amount_n IS NOT NULL GROUP BY COALESCE(currency, '') "
        # the events no field path gave a user, a reward or an amount: the preview says so rather than "0 users"
        f"UNION ALL SELECT 'missing', {t}, {t}, {t}, COUNT(*), "
        "SUM(CASE WHEN user_id IS NULL THEN 1 ELSE 0 END), SUM(CASE WHEN reward_id IS NULL THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN amount_n IS NULL THEN 1 ELSE 0 END), {n}, {num}, {dbl} FROM ev "
        f"UNION ALL {_superseded_rows(store, n, num, dbl, sample)} "
        f"UNION ALL {_latency_rows(store, sending, t, n, num)}"
    )
    summary: dict[str, Any] = {}
    amounts: dict[str, str] = {}
    superseded: dict[str, int] = {}
    samples: list[tuple[str, str, str]] = []
    latencies: dict[str, dict[str, float]] = {}
    with store.read() as conn:
        if store.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL jit = off")  # compiling this statement costs more than it saves
        rows = conn.exec_driver_sql(sql, (*params, RECENT_MINUTES, RECENT_MINUTES)).fetchall()
    for kind, t1, t2, t3, n1, n2, n3, n4, n5, amount, latency_sum in rows:
        if kind == "summary":
            summary.update(deliveries=int(n1), users=int(n2), rewards=int(n3), oldest_ms=n4, newest_ms=n5)
        elif kind == "missing":
            missing = {"user": n2, "reward": n3, "amount": n4}
            summary.update(events=int(n1), missing={k: int(v) for k, v in missing.items() if v})
        elif kind == "amount" and amount is not None:
            amounts[t1] = _decimal(amount)
        elif kind == "superseded":
            superseded[t1] = int(n1)
        elif kind == "sample":
            samples.append((t1, t2, t3))
        elif kind == "latency" and n1:
            latencies.setdefault(t1, {})[t2] = float(latency_sum) / int(n1)
    latency_ms = {
        endpoint_id: next(by_kind[k] for k in ("ok", "hour", "any") if k in by_kind)
        for endpoint_id, by_kind in latencies.items()
    }
    impact = ReplayImpact(
        **summary,
        amounts=dict(sorted(amounts.items())),  # by currency: the same text on every store
        superseded=sum(superseded.values()),
        superseded_sample=tuple(sorted(samples)),
    )
    return ImpactFigures(impact, superseded, latency_ms)


def _decimal(value: Any) -> str:
    number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    text = format(number.quantize(Decimal("0.000001")).normalize(), "f")
    return text
