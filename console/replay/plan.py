"""Planning a replay: which deliveries, to which configured endpoints, with which secrets; nothing is sent."""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from console.delivery import Target
from console.domain.endpoint import Secret
from console.domain.replay import (
    DeliveryLine,
    EndpointPlan,
    PlannedItem,
    ReplayPlan,
    ReplaySelection,
)
from console.domain.safetext import one_line
from console.domain.urls import mask_url
from console.endpoints import EndpointsFile, resolve_secrets, url_problem
from console.replay.drain import endpoint_drain
from console.store import Store
from console.store.impact import replay_impact
from console.store.replay_plan import SelectedItem, endpoint_counts, first_items, selection_filter

ALREADY_DELIVERED = "already delivered (--force sends it again)"
SUPERSEDED = "superseded by {newer}, a newer event already delivered to this endpoint"
SAMPLE = 5  # superseded events named in the preview
HELD = 100  # the first items a plan holds, to show (`replay --dry-run --json` lists them)
SHOWN_SENDING = 10  # the first items to send a plan holds (the console names the first ones)
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


def plan_replay(
    store: Store, endpoints: EndpointsFile, selection: ReplaySelection, *, first_to_send: bool = False
) -> ReplayPlan:
    """The deliveries a selection matches, checked against endpoints.toml: counted per endpoint and previewed
    in SQL, the first HELD of them (oldest first, or as `--ordered` sends them) held to show, and the first
    SHOWN_SENDING to send among them (`first_to_send`: looked for past them when they hold fewer; a search that
    can read much of the selection when nearly all of it is skipped)."""
    counts = endpoint_counts(store, selection)
    check_endpoints(endpoints, counts)
    figures = replay_impact(
        store,
        selection_filter(selection),
        pairs=selection.pairs,
        limit=selection.limit,
        force=selection.force,
        skip_superseded=selection.skip_superseded,
        sample=SAMPLE,
    )
    items = tuple(_planned(r, selection) for r in first_items(store, selection, HELD))
    sending = tuple(i for i in items if i.skip_reason is None)[:SHOWN_SENDING]
    latency = figures.latency_ms
    plans = []
    for endpoint_id, (total, delivered, _) in sorted(counts.items()):
        skipped = (0 if selection.force else delivered) + (
            figures.superseded.get(endpoint_id, 0) if selection.skip_superseded else 0
        )
        to_send = total - skipped
        drain = endpoint_drain(
            endpoints.get(endpoint_id), to_send, latency.get(endpoint_id), selection.concurrency
        )
        plans.append(EndpointPlan(endpoint_id, _url(endpoints, endpoint_id), to_send, skipped, drain))
    newest = max((n for _, _, n in counts.values()), default=None)
    plan = ReplayPlan(selection, items, tuple(plans), figures.impact, sending, newest)
    beyond = len(sending) < min(
        SHOWN_SENDING, plan.to_send
    )  # the first ones to send come after the items held
    if first_to_send and beyond:
        found = first_items(store, selection, SHOWN_SENDING, to_send_only=True)
        plan = replace(plan, first_to_send=tuple(_planned(r, selection) for r in found))
    return plan


def _planned(row: SelectedItem, selection: ReplaySelection) -> PlannedItem:
    line = {f.name: getattr(row, f.name) for f in fields(DeliveryLine)}
    return PlannedItem(
        **line,
        skip_reason=_skip_reason(row.delivered, row.superseded_by, selection),
        order_key=f"reward:{row.reward_id}"
        if row.reward_id
        else (f"user:{row.user_id}" if row.user_id else None),
        superseded_by=row.superseded_by,
    )


def _skip_reason(delivered: bool, newer: str | None, selection: ReplaySelection) -> str | None:
    if delivered and not selection.force:
        return ALREADY_DELIVERED
    if newer is not None and selection.skip_superseded:
        return SUPERSEDED.format(newer=newer)
    return None


def skip_reasons() -> tuple[str, str, str]:
    """The reasons a job records for skipped items: already delivered, and the text around the newer event's
    id for a superseded one."""
    before, after = SUPERSEDED.split("{newer}")
    return ALREADY_DELIVERED, before, after


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


def resolve_endpoint_secrets(
    endpoints: EndpointsFile, endpoint_ids: Iterable[str], env: Mapping[str, str] | None = None
) -> dict[str, tuple[Secret, ...]]:
    """Each endpoint's secrets, read once (env: or file:); one that does not resolve stops everything, naming the
    endpoint."""
    ids = sorted(set(endpoint_ids))
    check_endpoints(endpoints, ids)
    resolved: dict[str, tuple[Secret, ...]] = {}
    for endpoint_id in ids:
        endpoint = endpoints.get(endpoint_id)
        assert endpoint is not None
        try:
            secrets = resolve_secrets(endpoint, endpoints.path.parent, env if env is not None else os.environ)
        except LookupError as exc:
            raise ReplayError(f"{exc}; nothing was sent") from None
        resolved[endpoint_id] = tuple(secrets)
    return resolved


def targets_for(
    endpoints: EndpointsFile, secrets: Mapping[str, Sequence[Secret]], **policy: Any
) -> dict[str, Target]:
    """The send targets of endpoints whose secrets are resolved already."""
    targets: dict[str, Target] = {}
    for endpoint_id, resolved in secrets.items():
        endpoint = endpoints.get(endpoint_id)
        assert endpoint is not None, endpoint_id
        targets[endpoint_id] = Target.for_endpoint(endpoint, resolved, **policy)
    return targets


def resolve_targets(
    endpoints: EndpointsFile, endpoint_ids: Iterable[str], env: Mapping[str, str] | None = None, **policy: Any
) -> dict[str, Target]:
    """The send targets with their secrets; a secret that does not resolve stops everything, naming the endpoint."""
    return targets_for(endpoints, resolve_endpoint_secrets(endpoints, endpoint_ids, env), **policy)


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
