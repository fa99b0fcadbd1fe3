"""What "outstanding" means over deliveries: undelivered and not resolved. A resolved delivery ("won't send",
console.store.resolutions) is left out of the backlog, its oldest age, alerts, gaps, top failing and replay; a
delivery delivered later is delivered whatever its resolution says. Every query that means "still to deliver"
takes its condition from here, so the partial index `ix_delivery_undelivered` (the same condition) serves it.

A store before version 6 opened read-only has no resolutions: the conditions fall back to `delivered_at IS NULL`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false

from console.store.dialect import Dialect
from console.store.tables import UNDELIVERED_INDEX_WHERE


def outstanding(d: Any, dialect: Dialect) -> ColumnElement[bool]:
    """Undelivered and not resolved, over the delivery table or alias `d`."""
    if not dialect.resolutions:
        return d.c.delivered_at.is_(None)  # type: ignore[no-any-return]
    return and_(d.c.delivered_at.is_(None), d.c.resolved_at.is_(None))


def is_resolved(d: Any, dialect: Dialect) -> ColumnElement[bool]:
    """Resolved and still undelivered (a delivery delivered later counts as delivered)."""
    if not dialect.resolutions:
        return false()
    return and_(d.c.delivered_at.is_(None), d.c.resolved_at.is_not(None))


def outstanding_sql(alias: str, dialect: Dialect) -> str:
    """`outstanding` as SQL text over `alias`, for the queries kept as driver SQL: the partial index's own
    condition (tables.UNDELIVERED_INDEX_WHERE), so the planner matches the one to the other."""
    parts = UNDELIVERED_INDEX_WHERE.split(" AND ") if dialect.resolutions else ["delivered_at IS NULL"]
    return " AND ".join(f"{alias}.{part}" for part in parts)
