"""Selections of deliveries: the same filter drives stats, the explorer, replay, reports and exports."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from console.domain.outcomes import Outcome
from console.domain.where import Where


class DeliveryState(StrEnum):
    """States of one event at one endpoint, as filters see them.

    `failed` means the delivery met at least one failed attempt, whether or not it was delivered later;
    replays skip the delivered ones unless forced. `undelivered` is outstanding: not delivered and not
    resolved; `resolved` is not delivered and resolved by an operator ("won't send", docs/resolve.md).
    """

    ANY = "any"
    UNDELIVERED = "undelivered"
    DELIVERED = "delivered"
    FAILED = "failed"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries (event x endpoint) a command or a screen is about.

    Times are epoch ms; `since_ms`/`until_ms` bound the delivery's first attempt (half-open: since <= t < until).
    Empty tuples mean "no restriction".
    """

    since_ms: int | None = None
    until_ms: int | None = None
    endpoint_ids: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    state: DeliveryState = DeliveryState.ANY
    last_outcomes: tuple[Outcome, ...] = ()
    status_codes: tuple[int, ...] = ()
    event_ids: tuple[str, ...] = ()
    search: str | None = None
    where: Where | None = None  # a `--where` expression on payload fields, parsed where it entered
    sources: tuple[str, ...] = ()  # dispatcher tenants, as the CLI resolved them into `endpoint_ids`
    # resolved deliveries (still undelivered): None leaves them out of `undelivered` only (the backlog's
    # meaning); False leaves them out whatever the state (replay's selection); True keeps them, `undelivered`
    # included (`replay --include-resolved`)
    include_resolved: bool | None = None

    def with_(self, **changes: object) -> DeliveryFilter:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        """A one-line human description, for headers and confirmations."""
        from console.domain.times import format_ms

        parts: list[str] = []
        if self.since_ms is not None:
            parts.append(f"since {format_ms(self.since_ms)}")
        if self.until_ms is not None:
            parts.append(f"until {format_ms(self.until_ms)}")
        if self.sources:
            parts.append("source " + ", ".join(self.sources))
        elif self.endpoint_ids:
            parts.append("endpoint " + ", ".join(self.endpoint_ids))
        if self.event_types:
            parts.append("type " + ", ".join(self.event_types))
        if self.state is not DeliveryState.ANY:
            parts.append(f"state {self.state.value}")
        if self.last_outcomes:
            parts.append("last outcome " + ", ".join(o.value for o in self.last_outcomes))
        if self.status_codes:
            parts.append("status " + ", ".join(str(c) for c in self.status_codes))
        if self.event_ids:
            parts.append(f"{len(self.event_ids)} event id(s)")
        if self.search:
            parts.append(f"matching {self.search!r}")
        if self.where:
            parts.append(f"where {self.where.text}")
        return "; ".join(parts) if parts else "all deliveries"
