"""Resolving deliveries ("won't send") and reopening them: the delivery holds the latest resolution
(`resolved_at/_by/_reason`), `delivery_resolution` every one with who, when and why.

Only undelivered deliveries are resolved; a resolved delivery delivered later (a retry, a replay) is delivered
whatever its resolution says (console.store.outstanding). Both run in one write transaction: the deliveries are
chosen under the store's write lock, so a dispatcher's write of a success in between is seen."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from console.domain.filters import DeliveryFilter
from console.domain.replay import ReplaySelection
from console.domain.resolutions import SUPERSEDED, Resolution, ResolutionAction, ResolveOutcome
from console.store import tables
from console.store.deliveries import D, matching_deliveries
from console.store.engine import Store, StoreError
from console.store.outstanding import is_resolved, outstanding
from console.store.replay_plan import superseded_items

HISTORY = tables.delivery_resolution
DELIVERY = tables.delivery


def _check(store: Store) -> None:
    if not store.dialect.resolutions:
        raise StoreError(
            f"store {store.display_url} predates resolutions (schema version 6); open it writable to upgrade it"
        )


def change(
    store: Store,
    flt: DeliveryFilter,
    action: ResolutionAction,
    *,
    reason: str,
    operator: str,
    now_ms: int,
    pairs: Sequence[tuple[str, str]] | None = None,
    dry_run: bool = False,
) -> ResolveOutcome:
    """Resolve the filter's outstanding deliveries (or reopen its resolved ones), narrowed to `pairs` when
    given; `dry_run` counts them and changes nothing."""
    _check(store)
    if pairs is not None:
        flt = flt.with_(event_ids=tuple(sorted({e for e, _ in pairs})))
    wanted = None if pairs is None else set(pairs)
    condition = (
        outstanding(D, store.dialect) if action is ResolutionAction.RESOLVE else is_resolved(D, store.dialect)
    )
    query = matching_deliveries(store.dialect, flt, D.c.event_id, D.c.endpoint_id).where(condition)
    with store.read() if dry_run else store.write() as conn:
        keys = [(e, ep) for e, ep in conn.execute(query) if wanted is None or (e, ep) in wanted]
        if keys and not dry_run:
            _write(conn, action, keys, reason, operator, now_ms)
    return ResolveOutcome(action, dict(sorted(Counter(ep for _e, ep in keys).items())), dry_run)


def _write(
    conn: Connection,
    action: ResolutionAction,
    keys: list[tuple[str, str]],
    reason: str,
    operator: str,
    at: int,
) -> None:
    resolving = action is ResolutionAction.RESOLVE
    update = (
        DELIVERY.update()
        .where(
            DELIVERY.c.event_id == bindparam("k_event"),
            DELIVERY.c.endpoint_id == bindparam("k_endpoint"),
            DELIVERY.c.delivered_at.is_(None),
        )
        .values(
            resolved_at=at if resolving else None,
            resolved_by=operator if resolving else None,
            resolved_reason=reason if resolving else None,
        )
    )
    conn.execute(update, [{"k_event": e, "k_endpoint": ep} for e, ep in keys])
    rows = [
        {
            "event_id": e,
            "endpoint_id": ep,
            "at": at,
            "operator": operator,
            "reason": reason,
            "action": action.value,
        }
        for e, ep in keys
    ]
    conn.execute(HISTORY.insert(), rows)


def history(store: Store, event_id: str) -> list[Resolution]:
    """Every resolve and reopen of an event's deliveries, oldest first (none on a store before version 6)."""
    if not store.dialect.resolutions:
        return []
    h = HISTORY.c
    query = (
        select(h.event_id, h.endpoint_id, h.at, h.operator, h.reason, h.action)
        .where(h.event_id == event_id)
        .order_by(h.seq)
    )
    with store.read() as conn:
        return [
            Resolution(r.event_id, r.endpoint_id, int(r.at), r.operator, r.reason, ResolutionAction(r.action))
            for r in conn.execute(query)
        ]


def resolve_superseded(
    store: Store, selection: ReplaySelection, *, operator: str, now_ms: int, reason: str = SUPERSEDED
) -> ResolveOutcome:
    """Resolve the selection's deliveries a newer delivered event supersedes (those `--skip-superseded` leaves
    out), with `reason`."""
    pairs = superseded_items(store, selection)
    if not pairs:
        return ResolveOutcome(ResolutionAction.RESOLVE, {})
    return change(
        store,
        selection.filter,
        ResolutionAction.RESOLVE,
        reason=reason,
        operator=operator,
        now_ms=now_ms,
        pairs=pairs,
    )
