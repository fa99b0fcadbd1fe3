"""A replay selection in SQL: its deliveries per endpoint, its first items in plan order, and a job's items
inserted straight from it (INSERT ... SELECT), so a plan holds what it shows whatever the selection's size.

The selection's items are the deliveries its filter matches (joined with their event), narrowed to the chosen
(event, endpoint) pairs when given, and cut to the first `limit` by first attempt when given. Plan order is first
attempt (then event id, endpoint id), or, `--ordered`, the time the event occurred first. An item is skipped
when already delivered (unless forced) or, with `--skip-superseded`, when superseded (see console.store.impact).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from console.domain.filters import DeliveryFilter
from console.domain.replay import DeliveryLine, ItemState, ReplaySelection
from console.store.deliveries import filter_clause
from console.store.engine import Store
from console.store.impact import SUPERSEDING, pairs_clause

_COLUMNS = (
    "d.event_id, d.endpoint_id, d.event_type, d.first_attempt_at, d.last_status_code, d.delivered_at, "
    "e.user_id, e.reward_id, e.occurred_at"
)
_FIRST_ATTEMPT = "first_attempt_at, event_id, endpoint_id"


@dataclass(frozen=True)
class SelectedItem(DeliveryLine):
    """One item of a selection as a plan shows it."""

    user_id: str | None
    reward_id: str | None
    superseded_by: str | None  # the newer event already delivered to this endpoint, for an item to send


def selection_filter(selection: ReplaySelection) -> DeliveryFilter:
    """The selection's filter, narrowed to the events of its chosen pairs when it has some."""
    if selection.pairs is None:
        return selection.filter
    return selection.filter.with_(event_ids=tuple(sorted({event for event, _ in selection.pairs})))


def selection_where(store: Store, selection: ReplaySelection) -> tuple[str, list[Any]]:
    """`FROM delivery d JOIN event e ... WHERE ...`: the deliveries the selection matches (before its limit)."""
    where, params = filter_clause(store.dialect, selection_filter(selection))
    if selection.pairs is not None:
        clause, pair_params = pairs_clause(store, selection.pairs)
        where += f" AND {clause}"
        params += pair_params
    return f"FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE {where}", params


def _items(store: Store, selection: ReplaySelection) -> tuple[str, list[Any]]:
    """`(SELECT ...) i`: the selection's items with what a plan needs of them, its limit applied."""
    source, params = selection_where(store, selection)
    limited = (
        f" ORDER BY {', '.join(f'd.{c}' for c in _FIRST_ATTEMPT.split(', '))} LIMIT {int(selection.limit)}"
        if selection.limit is not None
        else ""
    )
    return f"(SELECT {_COLUMNS} {source}{limited}) i", params


def plan_order(store: Store, selection: ReplaySelection, alias: str = "i") -> str:
    """The ORDER BY of plan order over `alias` (`--ordered`: by when the event occurred, ids compared as
    Python compares them, codepoint by codepoint, whatever the database's collation)."""
    if not selection.ordered:
        return ", ".join(f"{alias}.{c}" for c in _FIRST_ATTEMPT.split(", "))
    binary = ' COLLATE "C"' if store.dialect.name == "postgresql" else ""
    return f"{alias}.occurred_at, {alias}.first_attempt_at, {alias}.event_id{binary}, {alias}.endpoint_id{binary}"


def _to_send(selection: ReplaySelection, alias: str = "i") -> str:
    """The condition an item meets when it is not skipped as already delivered (those the superseded check
    covers)."""
    return "1 = 1" if selection.force else f"{alias}.delivered_at IS NULL"


def endpoint_counts(store: Store, selection: ReplaySelection) -> dict[str, tuple[int, int, int]]:
    """Per endpoint of the selection: (its items, those already delivered, the newest first attempt)."""
    items, params = _items(store, selection)
    sql = (
        "SELECT i.endpoint_id, COUNT(*), SUM(CASE WHEN i.delivered_at IS NOT NULL THEN 1 ELSE 0 END), "
        f"MAX(i.first_attempt_at) FROM {items} GROUP BY i.endpoint_id"
    )
    with store.read() as conn:
        return {
            e: (int(n), int(done or 0), int(newest))
            for e, n, done, newest in conn.exec_driver_sql(sql, tuple(params))
        }


def _newer(alias: str, *, newest: bool) -> str:
    """For the item `alias`: a newer event of its key (its reward id; its user id when it has no reward id)
    already delivered to its endpoint: the newest one when it occurred after the item (`newest`), else whether
    there is one (a condition). Each is one walk of the event's (key, occurred_at, event_id) index."""

    def among(key: str, same: str) -> str:
        return (
            f"FROM event n JOIN delivery nd ON nd.event_id = n.event_id AND nd.endpoint_id = {alias}.endpoint_id "
            f"WHERE n.{key} = {alias}.{key}{same} AND nd.delivered_at IS NOT NULL"
        )

    reward, user = among("reward_id", ""), among("user_id", " AND n.reward_id IS NULL")
    if newest:
        found = (
            "(SELECT x.event_id FROM (SELECT n.event_id, n.occurred_at {} ORDER BY n.occurred_at DESC, "
            f"n.event_id DESC LIMIT 1) x WHERE x.occurred_at > {alias}.occurred_at)"
        )
        return f"CASE WHEN {alias}.reward_id IS NOT NULL THEN {found.format(reward)} ELSE {found.format(user)} END"
    later = f" AND n.occurred_at > {alias}.occurred_at"
    return (
        f"(({alias}.reward_id IS NOT NULL AND EXISTS (SELECT 1 {reward}{later})) OR "
        f"({alias}.reward_id IS NULL AND EXISTS (SELECT 1 {user}{later})))"
    )


def first_items(
    store: Store, selection: ReplaySelection, count: int, *, to_send_only: bool = False
) -> list[SelectedItem]:
    """The selection's first `count` items in plan order (`to_send_only`: of those not skipped), each with the
    newer event that supersedes it when it is one to send."""
    items, params = _items(store, selection)
    where = ""
    if to_send_only:
        where = f" WHERE {_to_send(selection)}"
        if selection.skip_superseded:
            where += f" AND NOT {_newer('i', newest=False)}"
    shown = f"SELECT i.* FROM {items}{where} ORDER BY {plan_order(store, selection)} LIMIT {int(count)}"
    sql = (
        "SELECT f.event_id, f.endpoint_id, f.event_type, f.first_attempt_at, f.last_status_code, "
        f"f.delivered_at, f.user_id, f.reward_id, CASE WHEN {_to_send(selection, 'f')} THEN "
        f"{_newer('f', newest=True)} END FROM ({shown}) f ORDER BY {plan_order(store, selection, 'f')}"
    )
    with store.read() as conn:
        rows = conn.exec_driver_sql(sql, tuple(params)).fetchall()
    return [
        SelectedItem(e, ep, kind, int(first), code, delivered is not None, user, reward, newer)
        for e, ep, kind, first, code, delivered, user, reward, newer in rows
    ]


def insert_items(
    conn: Connection,
    store: Store,
    job_id: str,
    selection: ReplaySelection,
    reasons: tuple[str, str, str],
    now_ms: int,
) -> int:
    """Insert a job's items from its selection, in plan order, without reading them into the client: those to
    send pending, the others skipped with their reason. `reasons`: the text for already delivered, and the
    text before and after the newer event's id for superseded. Returns how many items the job has."""
    p = store.dialect.placeholder
    items, params = _items(store, selection)
    delivered_reason, before, after = reasons
    skipped: list[str] = []
    reason_params: list[Any] = []
    if not selection.force:
        skipped.append(f"WHEN i.delivered_at IS NOT NULL THEN {p}")
        reason_params.append(delivered_reason)
    chain, join = f"WITH i AS MATERIALIZED (SELECT * FROM {items}) ", ""
    if (
        selection.skip_superseded
    ):  # each (key, endpoint) of the items to send looked up once, as the preview does
        chain += f", sel AS MATERIALIZED (SELECT * FROM i WHERE {_to_send(selection)}), {SUPERSEDING}"
        join = (
            f"LEFT JOIN newest w ON {_to_send(selection)} AND w.endpoint_id = i.endpoint_id "
            "AND w.kind = CASE WHEN i.reward_id IS NOT NULL THEN 'r' ELSE 'u' END "
            "AND w.key_id = COALESCE(i.reward_id, i.user_id) AND w.newer_at > i.occurred_at "
        )
        skipped.append(f"WHEN w.newer IS NOT NULL THEN {p} || w.newer || {p}")
        reason_params += [before, after]
    reason = f"CASE {' '.join(skipped)} END" if skipped else "CAST(NULL AS TEXT)"
    ordered = (
        f"SELECT i.event_id, i.endpoint_id, ROW_NUMBER() OVER (ORDER BY {plan_order(store, selection)}) - 1 "
        f"AS position, {reason} AS reason FROM i {join}"
    )
    sql = (
        f"{chain}INSERT INTO replay_item (job_id, event_id, endpoint_id, position, state, attempts, last_error, "
        f"updated_at) SELECT {p}, r.event_id, r.endpoint_id, r.position, CASE WHEN r.reason IS NULL THEN "
        f"'{ItemState.PENDING.value}' ELSE '{ItemState.SKIPPED.value}' END, 0, r.reason, {p} FROM ({ordered}) r"
    )
    conn.exec_driver_sql(sql, (*params, job_id, now_ms, *reason_params))
    count = f"SELECT COUNT(*) FROM replay_item WHERE job_id = {p}"  # a WITH statement's rowcount is not kept
    return int(conn.exec_driver_sql(count, (job_id,)).scalar_one())


def superseded_items(store: Store, selection: ReplaySelection) -> list[tuple[str, str]]:
    """Every (event id, endpoint id) of the selection to send that a newer event already delivered to its
    endpoint supersedes: what `--skip-superseded` leaves out (the console offers to resolve them)."""
    items, params = _items(store, selection)
    sql = f"SELECT i.event_id, i.endpoint_id FROM {items} WHERE {_to_send(selection)} AND {_newer('i', newest=False)}"
    with store.read() as conn:
        return [(e, ep) for e, ep in conn.exec_driver_sql(sql, tuple(params))]
