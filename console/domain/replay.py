"""Replay jobs as every layer sees them: states, a selection, a plan, and a job's progress."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from console.domain.filters import DeliveryFilter


class ItemState(StrEnum):
    """One event x endpoint of a job. `sending` is written before the request goes out."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


FINAL_ITEM_STATES = frozenset({ItemState.DELIVERED, ItemState.FAILED, ItemState.SKIPPED, ItemState.CANCELLED})


class JobState(StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    INTERRUPTED = "interrupted"  # stopped part-way; `replay resume` carries on
    DONE = "done"  # every item delivered or skipped
    FAILED = "failed"  # finished, some items failed
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ReplaySelection:
    """What to replay: a delivery filter plus the replay's own options."""

    filter: DeliveryFilter
    limit: int | None = None
    force: bool = False
    concurrency: int = 10
    pairs: tuple[tuple[str, str], ...] | None = None  # exactly these (event id, endpoint id), when given
    skip_superseded: bool = False  # leave out events a newer delivered event of the same key supersedes
    ordered: bool = False  # one key's events in their original order, one at a time


@dataclass(frozen=True)
class JobOptions:
    """A job's options as data, stored with it (a resume reads these, never the selection's text)."""

    ordered: bool = False
    skip_superseded: bool = False
    force: bool = False
    concurrency: int = 10
    limit: int | None = None
    where: str | None = None  # the `--where` expression, as given
    to: str | None = None  # `--to`: the URL sent to instead of the endpoints' own

    @classmethod
    def of(cls, selection: ReplaySelection, to: str | None = None) -> JobOptions:
        return cls(
            ordered=selection.ordered,
            skip_superseded=selection.skip_superseded,
            force=selection.force,
            concurrency=selection.concurrency,
            limit=selection.limit,
            where=selection.filter.where.text if selection.filter.where else None,
            to=to,
        )


@dataclass(frozen=True)
class JobOrigin:
    """Who started a job and why, and the target it goes to when not the endpoints' own (`--to`)."""

    operator: str | None = None
    reason: str | None = None
    target_url: str | None = None
    target_secret: str | None = None  # a reference (env:NAME, file:PATH), never the secret


@dataclass(frozen=True)
class DeliveryLine:
    """One event x endpoint as a replay plan lists it (the store's selection reads these fields)."""

    event_id: str
    endpoint_id: str
    event_type: str
    first_attempt_at_ms: int
    last_status_code: int | None
    delivered: bool


@dataclass(frozen=True)
class PlannedItem(DeliveryLine):
    skip_reason: str | None = None
    order_key: str | None = None  # "reward:ID", or "user:ID" when the event has no reward id
    superseded_by: str | None = None  # the newer event already delivered to this endpoint


@dataclass(frozen=True)
class EndpointPlan:
    endpoint_id: str
    url: str
    to_send: int
    skipped: int
    drain: DrainEstimate | None = None


@dataclass(frozen=True)
class DrainEstimate:
    """How long an endpoint's share of a replay should take: at most `rate_per_s`, and at most
    `in_flight` requests at a time each taking `latency_ms` (its recent mean). Retry-After is not stored."""

    in_flight: int
    rate_per_s: float | None
    latency_ms: float | None
    seconds: float | None  # None: no rate and no recent latency to go by


@dataclass(frozen=True)
class ReplayImpact:
    """What the deliveries to send mean for the business (users, rewards, amounts, time span, superseded)."""

    deliveries: int = 0
    users: int = 0
    rewards: int = 0
    amounts: dict[str, str] = field(default_factory=dict)  # currency ('' when none) -> total amount
    oldest_ms: int | None = None
    newest_ms: int | None = None
    superseded: int = 0
    superseded_sample: tuple[tuple[str, str, str], ...] = ()  # (event id, endpoint id, newer event id)
    events: int = 0  # distinct events of the deliveries to send
    missing: dict[str, int] = field(
        default_factory=dict
    )  # user/reward/amount -> events none of whose paths held it
    retry_after: str = "not stored (the log keeps no response headers)"


@dataclass(frozen=True)
class ReplayPlan:
    """The dry run: how many items, per endpoint, before anything is written or sent, and the first items (all of
    them in a small plan): what is shown, never the whole selection."""

    selection: ReplaySelection
    items: tuple[PlannedItem, ...]  # the first items in plan order
    endpoints: tuple[EndpointPlan, ...]
    impact: ReplayImpact | None = None
    first_to_send: tuple[
        PlannedItem, ...
    ] = ()  # the first items not skipped, in plan order (see plan_replay)
    # the newest first attempt among the plan's deliveries: a job made from the plan takes none tried later
    # (live traffic that fails after the operator looked at the plan is not sent unseen)
    newest_first_attempt_ms: int | None = None

    @property
    def job_selection(self) -> ReplaySelection:
        """The selection a job made from this plan inserts: the plan's, bounded to what it had seen."""
        if self.newest_first_attempt_ms is None or self.selection.pairs is not None:
            return self.selection
        flt = self.selection.filter
        bound = self.newest_first_attempt_ms + 1
        until = bound if flt.until_ms is None else min(flt.until_ms, bound)
        return replace(self.selection, filter=flt.with_(until_ms=until))

    @property
    def total(self) -> int:
        """Every item of the plan, skipped ones included."""
        return self.to_send + self.skipped

    @property
    def to_send(self) -> int:
        return sum(e.to_send for e in self.endpoints)

    @property
    def skipped(self) -> int:
        return sum(e.skipped for e in self.endpoints)


@dataclass(frozen=True)
class EndpointProgress:
    endpoint_id: str
    counts: dict[str, int] = field(default_factory=dict)
    note: str | None = None

    def count(self, state: ItemState) -> int:
        return self.counts.get(state.value, 0)


@dataclass(frozen=True)
class JobView:
    """A job as `replay list/show` and the console show it."""

    id: str
    state: JobState
    created_at_ms: int
    selection: str
    force: bool
    concurrency: int
    total: int
    counts: dict[str, int]
    endpoints: tuple[EndpointProgress, ...] = ()
    started_at_ms: int | None = None
    finished_at_ms: int | None = None
    note: str | None = None
    operator: str | None = None
    reason: str | None = None
    target_url: str | None = None  # sent to this URL (`--to`) instead of the endpoints' own
    target_secret: str | None = None  # the secret reference used with target_url (None: the endpoint's)
    options: JobOptions | None = None  # None: a job stored before options were (its selection text tells)

    def count(self, state: ItemState) -> int:
        return self.counts.get(state.value, 0)

    @property
    def succeeded(self) -> bool:
        """True when every item ended delivered or skipped."""
        return self.count(ItemState.DELIVERED) + self.count(ItemState.SKIPPED) == self.total


@dataclass(frozen=True)
class JobItem:
    """One item of a job as `replay show` and the console list it."""

    event_id: str
    endpoint_id: str
    state: ItemState
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_try_error: str | None = None  # the error of the job's last attempt at this item, when it had one

    @property
    def reason(self) -> str | None:
        """Why the item ended as it did: the item's error, with its last try's error when that says more."""
        if self.last_try_error and self.last_try_error not in (self.last_error or ""):
            return (
                f"{self.last_error}; last try: {self.last_try_error}"
                if self.last_error
                else self.last_try_error
            )
        return self.last_error


@dataclass(frozen=True)
class FailureReason:
    """A reason items of a job failed, and how many items it ended."""

    reason: str
    items: int
