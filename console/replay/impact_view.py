"""The impact preview of a replay plan as text lines (the dry run, the console) and as JSON."""

from __future__ import annotations

from typing import Any

from console.domain import formatting as fmt
from console.domain.replay import DrainEstimate, ReplayImpact, ReplayPlan
from console.domain.times import format_ms
from console.replay.drain import job_drain


def drain_time(seconds: float | None) -> str:
    """About how long a drain takes (`~40s`, `~12m`, `~3h 30m`, or `<1s`); `unknown` when there is nothing to
    go by."""
    if seconds is None:
        return "unknown"
    text = fmt.duration(seconds * 1000)
    return text if text.startswith("<") else f"~{text}"


def amounts_text(impact: ReplayImpact) -> str:
    return (
        ", ".join(f"{total} {currency or '(no currency)'}" for currency, total in impact.amounts.items())
        or "-"
    )


def superseded_text(impact: ReplayImpact, skipping: bool) -> str:
    if not impact.superseded:
        return "superseded: none"
    sample = ", ".join(
        f"{event} at {endpoint} (newer {newer})" for event, endpoint, newer in impact.superseded_sample[:3]
    )
    action = "left out" if skipping else "sent anyway; --skip-superseded leaves them out"
    return f"superseded: {fmt.count(impact.superseded)} ({action}), e.g. {sample}"


FIELD_NAMES = {"user": "user id", "reward": "reward id", "amount": "amount"}


def missing_text(impact: ReplayImpact) -> str | None:
    """The business fields no payload path found, e.g. "reward id: not found in 702 of 702 events": the users,
    rewards, amounts and superseded check count only the events that have them."""
    if not impact.missing:
        return None
    found = [
        f"{FIELD_NAMES[name]}: not found in {fmt.count(n)} of {fmt.count(impact.events)} events"
        for name, n in impact.missing.items()
    ]
    return "; ".join(found) + " (their paths: docs/payload-fields.md)"


def plan_drain_seconds(plan: ReplayPlan) -> float | None:
    """How long the whole job should take (console.replay.drain.job_drain)."""
    return job_drain(plan.endpoints, plan.selection.concurrency)


def drain_text(drain: DrainEstimate | None) -> str:
    if drain is None:
        return "unknown"
    basis = [f"{drain.in_flight} in flight"]
    if drain.rate_per_s:
        basis.append(f"{drain.rate_per_s:g}/s")  # the rate limit as endpoints.toml gives it
    basis.append(
        f"latency {fmt.latency(drain.latency_ms)}" if drain.latency_ms is not None else "no recent latency"
    )
    return f"{drain_time(drain.seconds)} ({', '.join(basis)})"


def impact_lines(plan: ReplayPlan) -> list[str]:
    """The preview under the plan's table: who and what is affected, what is stale, how long it takes."""
    impact = plan.impact
    if impact is None:
        return []
    lines = [
        f"impact: {fmt.counted(impact.users, 'user')}, {fmt.counted(impact.rewards, 'reward')}; amounts: {amounts_text(impact)}",
        f"events from {format_ms(impact.oldest_ms) or '-'} to {format_ms(impact.newest_ms) or '-'}",
        superseded_text(impact, plan.selection.skip_superseded),
    ]
    missing = missing_text(impact)
    if missing:
        lines.insert(1, missing)
    lines += [f"drain {e.endpoint_id}: {drain_text(e.drain)}" for e in plan.endpoints if e.to_send]
    if sum(1 for e in plan.endpoints if e.to_send) > 1:
        lines.append(
            f"drain in all: {drain_time(plan_drain_seconds(plan))} (concurrency {plan.selection.concurrency})"
        )
    lines.append(f"Retry-After: {impact.retry_after}")
    if plan.selection.ordered:
        lines.append("ordered: one reward's (or user's) events go one at a time, in the order they occurred")
    return lines


def impact_json(impact: ReplayImpact | None) -> dict[str, Any] | None:
    if impact is None:
        return None
    return {
        "deliveries": impact.deliveries,
        "users": impact.users,
        "rewards": impact.rewards,
        "amounts": impact.amounts,
        "oldest_event": format_ms(impact.oldest_ms) or None,
        "newest_event": format_ms(impact.newest_ms) or None,
        "superseded": impact.superseded,
        "superseded_sample": [
            {"event_id": e, "endpoint_id": ep, "newer_event_id": n} for e, ep, n in impact.superseded_sample
        ],
        "events": impact.events,
        "fields_not_found": impact.missing,
        "retry_after": impact.retry_after,
    }


def drain_json(drain: DrainEstimate | None) -> dict[str, Any] | None:
    if drain is None:
        return None
    return {
        "seconds": None if drain.seconds is None else round(drain.seconds, 1),
        "in_flight": drain.in_flight,
        "rate_per_s": drain.rate_per_s,
        "recent_latency_ms": None if drain.latency_ms is None else round(drain.latency_ms, 1),
    }
