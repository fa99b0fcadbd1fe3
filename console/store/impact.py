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
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from console.domain.filters import DeliveryFilter
from console.store.deliveries import filter_clause
from console.store.engine import Store

RECENT_MINUTES = 60  # the latency of an endpoint's last hour of traffic in the store


@dataclass(frozen=True)
class ImpactFigures:
    deliveries: int = 0
    users: int = 0
    rewards: int = 0
    amounts: dict[str, str] = field(default_factory=dict)  # currency ('' when none) -> total amount
    oldest_ms: int | None = None
    newest_ms: int | None = None
    superseded: dict[tuple[str, str], str] = field(default_factory=dict)  # (event, endpoint) -> newer event
    latency_ms: dict[str, float] = field(default_factory=dict)  # endpoint -> recent mean latency


def _selection_cte(store: Store, flt: DeliveryFilter, pairs: Sequence[tuple[str, str]] | None,
                   limit: int | None, force: bool) -> tuple[str, list[Any]]:  # fmt: skip
    where, params = filter_clause(store.dialect, flt)
    if pairs is not None:
        clause, pair_params = store.dialect.in_list(
            "(d.event_id || '|' || d.endpoint_id)", [f"{e}|{ep}" for e, ep in pairs] or [""]
        )
        where += f" AND {clause}"
        params += pair_params
    sql = (
        "SELECT d.event_id, d.endpoint_id, d.delivered_at, e.user_id, e.reward_id, e.amount, e.currency, "
        f"e.occurred_at FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE {where} "
        "ORDER BY d.first_attempt_at, d.event_id, d.endpoint_id"
        + (f" LIMIT {int(limit)}" if limit is not None else "")
    )
    sending = "" if force else " WHERE delivered_at IS NULL"
    return f"WITH picked AS ({sql}), sel AS (SELECT * FROM picked{sending}) ", params


def _numeric(store: Store, column: str) -> str:
    """The amount as a number, NULL when it is not one (amounts are free text in the log)."""
    if store.dialect.name == "postgresql":
        return f"CASE WHEN {column} ~ '^\\s*-?[0-9]+(\\.[0-9]+)?\\s*$' THEN CAST({column} AS NUMERIC) END"
    return (
        f"CASE WHEN TRIM({column}) <> '' AND TRIM({column}) NOT GLOB '*[^0-9.-]*' "
        f"THEN CAST(TRIM({column}) AS REAL) END"
    )


def _newer(key: str) -> str:
    """The newest event with the same key as `s`, delivered to s's endpoint, later than s (or NULL)."""
    same = "n.reward_id = s.reward_id" if key == "reward" else "n.user_id = s.user_id AND n.reward_id IS NULL"
    return (
        "(SELECT n.event_id FROM event n JOIN delivery nd ON nd.event_id = n.event_id "
        f"AND nd.endpoint_id = s.endpoint_id WHERE {same} AND n.occurred_at > s.occurred_at "
        "AND nd.delivered_at IS NOT NULL ORDER BY n.occurred_at DESC, n.event_id DESC LIMIT 1)"
    )


def superseded_sql(cte: str) -> str:
    return (
        f"{cte}SELECT event_id, endpoint_id, newer FROM ("
        f"SELECT s.event_id, s.endpoint_id, {_newer('reward')} AS newer FROM sel s WHERE s.reward_id IS NOT NULL "
        f"UNION ALL SELECT s.event_id, s.endpoint_id, {_newer('user')} AS newer FROM sel s "
        "WHERE s.reward_id IS NULL AND s.user_id IS NOT NULL) x WHERE newer IS NOT NULL"
    )


def replay_impact(store: Store, flt: DeliveryFilter, *, pairs: Sequence[tuple[str, str]] | None = None,
                  limit: int | None = None, force: bool = False) -> ImpactFigures:  # fmt: skip
    """The impact figures of a replay selection (see the module docstring)."""
    cte, params = _selection_cte(store, flt, pairs, limit, force)
    p = store.dialect.placeholder
    with store.read() as conn:
        n, users, rewards, oldest, newest = conn.exec_driver_sql(
            f"{cte}SELECT COUNT(*), COUNT(DISTINCT user_id), COUNT(DISTINCT reward_id), MIN(occurred_at), "
            "MAX(occurred_at) FROM sel",
            tuple(params),
        ).one()
        amounts = conn.exec_driver_sql(
            f"{cte}SELECT COALESCE(currency, ''), SUM({_numeric(store, 'amount')}) FROM sel "
            "WHERE amount IS NOT NULL GROUP BY COALESCE(currency, '') ORDER BY 1",
            tuple(params),
        ).fetchall()
        superseded = conn.exec_driver_sql(superseded_sql(cte), tuple(params) * 1).fetchall()
        latency = conn.exec_driver_sql(
            f"{cte}SELECT r.endpoint_id, SUM(r.latency_sum), SUM(r.latency_count) FROM rollup_minute r "
            "JOIN (SELECT endpoint_id, MAX(bucket) AS last FROM rollup_minute "
            "WHERE endpoint_id IN (SELECT DISTINCT endpoint_id FROM sel) GROUP BY endpoint_id) m "
            f"ON m.endpoint_id = r.endpoint_id AND r.bucket > m.last - {p} GROUP BY r.endpoint_id",
            (*params, RECENT_MINUTES),
        ).fetchall()
    return ImpactFigures(
        deliveries=int(n),
        users=int(users),
        rewards=int(rewards),
        amounts={c: _decimal(total) for c, total in amounts if total is not None},
        oldest_ms=oldest,
        newest_ms=newest,
        superseded={(e, ep): newer for e, ep, newer in superseded},
        latency_ms={ep: float(s) / int(c) for ep, s, c in latency if c},
    )


def _decimal(value: Any) -> str:
    number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    text = format(number.quantize(Decimal("0.000001")).normalize(), "f")
    return text


def occurred_at(store: Store, event_ids: Sequence[str]) -> dict[str, int]:
    """When each event occurred (epoch ms): the original order `--ordered` sends one key's events in."""
    if not event_ids:
        return {}
    clause, params = store.dialect.in_list("event_id", list(event_ids))
    with store.read() as conn:
        return dict(
            conn.exec_driver_sql(
                f"SELECT event_id, occurred_at FROM event WHERE {clause}", tuple(params)
            ).fetchall()
        )
