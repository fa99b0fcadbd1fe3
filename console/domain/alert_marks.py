"""What the console marks on an endpoint's row: alerts firing for it now, or that it has recovered."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointMark:
    """One endpoint's alert standing: `recovered_ms` is when it recovered (successes again after a failure
    streak, or its alert resolved). Firing wins the mark; on a firing endpoint, `recovered_ms` says its attempts
    succeed again already (the rule has not caught up yet)."""

    endpoint_id: str
    firing_rules: tuple[str, ...] = ()
    firing_since_ms: int | None = None
    recovered_ms: int | None = None

    @property
    def firing(self) -> bool:
        return bool(self.firing_rules)
