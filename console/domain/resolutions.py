"""The resolved ("won't send") state of a delivery: an operator's decision not to send it, with who, when and
why, kept as history and reversible (docs/resolve.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SUPERSEDED = "superseded: a newer event of the same reward (or user) was delivered"  # the console's default


class ResolutionAction(StrEnum):
    RESOLVE = "resolve"
    REOPEN = "reopen"


@dataclass(frozen=True)
class Resolution:
    """One resolve or reopen of a delivery."""

    event_id: str
    endpoint_id: str
    at_ms: int
    operator: str
    reason: str
    action: ResolutionAction


@dataclass(frozen=True)
class ResolveOutcome:
    """What a resolve or reopen changed (or, dry run, would change): deliveries per endpoint."""

    action: ResolutionAction
    per_endpoint: dict[str, int]
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.per_endpoint.values())
