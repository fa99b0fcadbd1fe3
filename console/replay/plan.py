"""Planning a replay: which deliveries, to which configured endpoints, with which secrets; nothing is sent."""

from __future__ import annotations

import codecs
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from console.delivery import Target
from console.domain.replay import (
    DrainEstimate,
    EndpointPlan,
    PlannedItem,
    ReplayImpact,
    ReplayPlan,
    ReplaySelection,
)
from console.domain.safetext import one_line
from console.domain.urls import mask_url
from console.endpoints import EndpointsFile, resolve_secrets, url_problem
from console.store import Store
from console.store.deliveries import all_deliveries
from console.store.impact import ImpactFigures, occurred_at, replay_impact

ALREADY_DELIVERED = "already delivered (--force sends it again)"
SUPERSEDED = "superseded by {newer}, a newer event already delivered to this endpoint"
SAMPLE = 5
ORDERED = "ordered"  # in the job's selection text: a resume keeps the order


class ReplayError(Exception):
    """A replay that must not start (or go on); the message names the endpoint, file or job at fault."""


def read_event_ids(path: Path) -> tuple[str, ...]:
    """Event ids from a UTF-8 file (a leading byte-order mark dropped): one per line; blank lines and # comments
    ignored. A byte that is not UTF-8 is refused with its line and offset."""
    shown = f"--event-ids-from {one_line(str(path))}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReplayError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = bom + exc.start
        line = data.count(b"\n", 0, offset) + 1
        raise ReplayError(
            f"{shown}:{line}: not valid UTF-8 (byte 0x{data[offset]:02x} at offset {offset})"
        ) from None
    ids = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return tuple(dict.fromkeys(i for i in ids if i))


def plan_replay(store: Store, endpoints: EndpointsFile, selection: ReplaySelection) -> ReplayPlan:
    """The deliveries a selection matches, oldest first, checked against endpoints.toml."""
    flt = selection.filter
    if selection.pairs is not None:
        flt = flt.with_(event_ids=tuple(sorted({event for event, _ in selection.pairs})))
    rows = all_deliveries(store, flt, limit=selection.limit)
    if selection.pairs is not None:
        wanted = set(selection.pairs)
        rows = [r for r in rows if r.key in wanted]
    check_endpoints(endpoints, {r.endpoint_id for r in rows})
    figures = replay_impact(store, flt, pairs=selection.pairs, limit=selection.limit, force=selection.force)
    items = [
        PlannedItem(
            event_id=r.event_id,
            endpoint_id=r.endpoint_id,
            event_type=r.event_type,
            first_attempt_at_ms=r.first_attempt_at_ms,
            last_status_code=r.last_status_code,
            delivered=r.delivered,
            skip_reason=_skip_reason(r.delivered, figures.superseded.get(r.key), selection),
            order_key=f"reward:{r.reward_id}"
            if r.reward_id
            else (f"user:{r.user_id}" if r.user_id else None),
            superseded_by=figures.superseded.get(r.key),
        )
        for r in rows
    ]
    if selection.ordered:  # one key's events in the order they occurred; claims follow the plan's order
        when = occurred_at(store, sorted({i.event_id for i in items}))
        items.sort(key=lambda i: (when.get(i.event_id, 0), i.first_attempt_at_ms, i.event_id, i.endpoint_id))
    sending = Counter(i.endpoint_id for i in items if i.skip_reason is None)
    skipping = Counter(i.endpoint_id for i in items if i.skip_reason is not None)
    latency = figures.latency_ms
    plans = tuple(
        EndpointPlan(
            endpoint_id,
            _url(endpoints, endpoint_id),
            sending[endpoint_id],
            skipping[endpoint_id],
            _drain(endpoints, endpoint_id, sending[endpoint_id], latency.get(endpoint_id), selection),
        )
        for endpoint_id in sorted(set(sending) | set(skipping))
    )
    return ReplayPlan(selection, tuple(items), plans, _impact(figures))


def _skip_reason(delivered: bool, newer: str | None, selection: ReplaySelection) -> str | None:
    if delivered and not selection.force:
        return ALREADY_DELIVERED
    if newer is not None and selection.skip_superseded:
        return SUPERSEDED.format(newer=newer)
    return None


def _impact(figures: ImpactFigures) -> ReplayImpact:
    sample = sorted(figures.superseded.items())[:SAMPLE]
    return ReplayImpact(
        deliveries=figures.deliveries,
        users=figures.users,
        rewards=figures.rewards,
        amounts=figures.amounts,
        oldest_ms=figures.oldest_ms,
        newest_ms=figures.newest_ms,
        superseded=len(figures.superseded),
        superseded_sample=tuple((event, endpoint, newer) for (event, endpoint), newer in sample),
        events=figures.events,
        missing=figures.missing,
    )


def _drain(
    endpoints: EndpointsFile, endpoint_id: str, n: int, latency_ms: float | None, selection: ReplaySelection
) -> DrainEstimate:
    """Throughput is the lower of the rate limit and in-flight / latency; `--ordered` does not change it much
    while keys are many (one key's events go one at a time)."""
    endpoint = endpoints.get(endpoint_id)
    rate = endpoint.rate_per_s if endpoint else None
    in_flight = min(
        selection.concurrency, (endpoint.max_in_flight if endpoint else None) or selection.concurrency
    )
    limits = [r for r in (rate, in_flight * 1000.0 / latency_ms if latency_ms else None) if r]
    seconds = n / min(limits) if limits else None
    return DrainEstimate(in_flight, rate, latency_ms, 0.0 if n == 0 else seconds)


def _url(endpoints: EndpointsFile, endpoint_id: str) -> str:
    endpoint = endpoints.get(endpoint_id)
    return mask_url(endpoint.url) if endpoint else ""  # for display: never with its credentials


def check_endpoints(endpoints: EndpointsFile, endpoint_ids: Iterable[str]) -> None:
    """Every endpoint must be configured, enabled, and have a URL replays may go to."""
    ids = sorted(set(endpoint_ids))
    missing = [e for e in ids if endpoints.get(e) is None]
    if missing:
        raise ReplayError(
            f"endpoint(s) {', '.join(missing)} are in the selection but not in {endpoints.path}: replays go only to "
            "configured endpoint URLs (add them, or narrow the selection with --endpoint)"
        )
    for endpoint_id in ids:
        endpoint = endpoints.get(endpoint_id)
        assert endpoint is not None
        if not endpoint.enabled:
            raise ReplayError(f"endpoint {endpoint_id!r} is disabled in {endpoints.path}")
        problem = url_problem(endpoint.url)
        if problem:
            raise ReplayError(f"endpoint {endpoint_id!r}: url: {problem}")


def resolve_targets(
    endpoints: EndpointsFile, endpoint_ids: Iterable[str], env: Mapping[str, str] | None = None, **policy: Any
) -> dict[str, Target]:
    """The send targets with their secrets; a secret that does not resolve stops everything, naming the endpoint."""
    ids = sorted(set(endpoint_ids))
    check_endpoints(endpoints, ids)
    targets: dict[str, Target] = {}
    for endpoint_id in ids:
        endpoint = endpoints.get(endpoint_id)
        assert endpoint is not None
        try:
            secrets = resolve_secrets(endpoint, endpoints.path.parent, env if env is not None else os.environ)
        except LookupError as exc:
            raise ReplayError(f"{exc}; nothing was sent") from None
        targets[endpoint_id] = Target.for_endpoint(endpoint, secrets, **policy)
    return targets


def describe_selection(selection: ReplaySelection) -> str:
    """The selection as a job records it."""
    parts = [selection.filter.describe()]
    if selection.pairs is not None:
        parts.append(f"{len(selection.pairs)} chosen deliveries")
    if selection.limit is not None:
        parts.append(f"limit {selection.limit}")
    if selection.force:
        parts.append("forced")
    if selection.skip_superseded:
        parts.append("skip superseded")
    if selection.ordered:
        parts.append(ORDERED)
    return "; ".join(parts)
