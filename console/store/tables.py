"""The store's tables, declared once as SQLAlchemy Core `Table`s on one `MetaData` (`METADATA`): creation,
upgrades (console.store.schema) and every query built with SQLAlchemy expressions use them. Times are epoch
milliseconds; rollup buckets are whole minutes or hours.

Core, not SQLModel: reading commands import this module, and `import sqlmodel` (with pydantic) costs about
as much again as `import sqlalchemy` at start-up. Python-side defaults are not declared: every write names
its values, and the tables carry no DEFAULT clause. Table objects never leave `console.store`: queries
return domain values or DataFrames.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

METADATA = MetaData()

# The partial indexes' conditions (schema version 6 added resolved_at to the first).
UNDELIVERED_INDEX_WHERE = "delivered_at IS NULL AND resolved_at IS NULL"
RESOLVED_INDEX_WHERE = "delivered_at IS NULL AND resolved_at IS NOT NULL"
FAILED_INDEX_WHERE = "outcome <> 'success'"  # schema version 9
DUPLICATES_INDEX_WHERE = "successes > 1"

# SQLite makes an INTEGER PRIMARY KEY the rowid (cheap, monotonic); PostgreSQL gets a BIGINT identity.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


def _seq() -> Column[int]:
    return Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True)


def _key(name: str, type_: type[String] | type[BigInteger] | type[Integer] = String) -> Column[object]:
    return Column(name, type_(), primary_key=True)


def _str(name: str, nullable: bool = False) -> Column[str]:
    return Column(name, String(), nullable=nullable)


def _int(name: str, nullable: bool = False) -> Column[int]:
    return Column(name, Integer(), nullable=nullable)


def _ms(name: str, nullable: bool = False) -> Column[int]:
    return Column(name, BigInteger(), nullable=nullable)


def _float(name: str, nullable: bool = False) -> Column[float]:
    return Column(name, Float(), nullable=nullable)


def _bool(name: str) -> Column[bool]:
    return Column(name, Boolean(), nullable=False)


meta = Table(
    "meta",
    METADATA,
    _key("key"),
    _str("value"),
)
"""Key/value facts about the store itself, such as the schema version."""

endpoint = Table(
    "endpoint",
    METADATA,
    _key("id"),
    _str("name", nullable=True),
    _str("url", nullable=True),
    _str("scheme", nullable=True),
    _bool("enabled"),
    _str(
        "source", nullable=True
    ),  # its dispatcher tenant, e.g. svix:app_… (docs/sources.md); NULL for log files
)
"""An endpoint seen in a log or configured in endpoints.toml (the secret reference, never the secret)."""

event = Table(
    "event",
    METADATA,
    _key("event_id"),
    _str("event_type"),
    _ms("occurred_at"),
    Column("payload", LargeBinary(), nullable=True),  # the exact bytes sent
    _str("user_id", nullable=True),
    _str("reward_id", nullable=True),
    _str("amount", nullable=True),
    _str("currency", nullable=True),
    # (key, time, id): the newest event of a reward or user is one index walk (replay's superseded check)
    Index("ix_event_user_time", "user_id", "occurred_at", "event_id"),
    Index("ix_event_reward_time", "reward_id", "occurred_at", "event_id"),
)
"""One event, its payload kept once as the exact bytes sent."""

delivery_attempt = Table(
    "delivery_attempt",
    METADATA,
    _seq(),
    _str("event_id"),
    _str("event_type"),
    _str("endpoint_id"),
    _int("attempt"),
    _ms("attempted_at"),
    _int("status_code", nullable=True),
    _float("latency_ms", nullable=True),
    _str("outcome"),
    _str("error", nullable=True),
    _str("trigger"),
    _str("replay_job_id", nullable=True),
    _str("request_headers", nullable=True),
    _str("response_excerpt", nullable=True),
    Index("ux_attempt_natural", "event_id", "endpoint_id", "attempt", "trigger", unique=True),
    Index("ix_attempt_time", "attempted_at"),
    Index(  # an endpoint's failed attempts by time: what an incident touched (schema version 9); covering
        "ix_attempt_failed",
        "endpoint_id",
        "attempted_at",
        "event_id",
        "outcome",
        sqlite_where=text(FAILED_INDEX_WHERE),
        postgresql_where=text(FAILED_INDEX_WHERE),
    ),
)
"""One HTTP attempt. `seq` grows with every insert, so live readers ask for `seq > last_seen`."""

delivery = Table(
    "delivery",
    METADATA,
    _key("event_id"),
    _key("endpoint_id"),
    _str("event_type"),
    _int("attempts"),
    _int("successes"),
    _int("max_attempt"),
    _ms("first_attempt_at"),
    _int("first_attempt"),
    _str("first_trigger"),
    _str("first_outcome"),
    _ms("last_attempt_at"),
    _int("last_attempt"),
    _str("last_outcome"),
    _int("last_status_code", nullable=True),
    _str("last_error", nullable=True),
    _ms("delivered_at", nullable=True),
    _int("delivered_attempt", nullable=True),
    _str("claim_job", nullable=True),
    _ms("claim_until", nullable=True),
    # resolved ("won't send"): an operator left it out on purpose (console.store.resolutions); a delivery
    # delivered later is delivered whatever these say
    _ms("resolved_at", nullable=True),
    _str("resolved_by", nullable=True),
    _str("resolved_reason", nullable=True),
    # Scheduled attempts only (manual ones neither count nor fill a gap): how many are stored and the highest
    # number. Fewer than the highest is a skipped attempt number (console.store.gaps).
    _int("scheduled_attempts", nullable=True),
    _int("scheduled_max", nullable=True),
    Index("ix_delivery_first", "first_attempt_at"),
    Index(  # the outstanding backlog: undelivered and not resolved
        "ix_delivery_undelivered",
        "first_attempt_at",
        sqlite_where=text(UNDELIVERED_INDEX_WHERE),
        postgresql_where=text(UNDELIVERED_INDEX_WHERE),
    ),
    Index(  # the resolved ones still undelivered, counted apart by `stats` and the report
        "ix_delivery_resolved",
        "first_attempt_at",
        sqlite_where=text(RESOLVED_INDEX_WHERE),
        postgresql_where=text(RESOLVED_INDEX_WHERE),
    ),
    # The skipped-attempts check reads only deliveries whose scheduled numbers skip (stuck: ix_delivery_undelivered).
    Index(
        "ix_delivery_skipped",
        "first_attempt_at",
        sqlite_where=text("scheduled_attempts < scheduled_max"),
        postgresql_where=text("scheduled_attempts < scheduled_max"),
    ),
    # The report's duplicate acknowledgements (schema version 10): only deliveries acknowledged more than once.
    Index(
        "ix_delivery_duplicates",
        "first_attempt_at",
        sqlite_where=text(DUPLICATES_INDEX_WHERE),
        postgresql_where=text(DUPLICATES_INDEX_WHERE),
    ),
)
"""The current state of one event at one endpoint, kept up to date by every write of attempts."""

delivery_resolution = Table(
    "delivery_resolution",
    METADATA,
    _seq(),
    _str("event_id"),
    _str("endpoint_id"),
    _ms("at"),
    _str("operator"),
    _str("reason"),
    _str("action"),  # resolve | reopen
    Index("ix_resolution_delivery", "event_id", "endpoint_id", "seq"),
)
"""Every resolve and reopen of a delivery, with who, when and why (the delivery holds the latest)."""

gap_hour_events = Table(
    "gap_hour_events",
    METADATA,
    _key("hour", BigInteger),  # epoch hour of the event's first attempt anywhere
    _key("event_type"),
    _key("src"),  # the event's dispatcher tenant ('' for none): the least source of the endpoints it went to
    _int("events"),
)
"""Events with a payload per hour x type x tenant (console.store.gap_counts): the missing-delivery check's n."""

gap_hour_received = Table(
    "gap_hour_received",
    METADATA,
    _key("hour", BigInteger),
    _key("event_type"),
    _key("src"),
    _key("endpoint_id"),
    _int("received"),
)
"""Of those events, how many have a delivery at each endpoint of their tenant: the missing-delivery check's k."""

ordering_anomaly = Table(
    "ordering_anomaly",
    METADATA,
    _key("event_id"),
    _key("endpoint_id"),
    _str("user_id"),
    _ms("occurred_at"),
    _ms("delivered_at"),
    _str("overtook_event_id"),
    _ms("overtook_occurred_at"),
    _ms("overtook_delivered_at"),
    # the report reads those delivered since its window's start (a delivery is first tried before it is delivered)
    Index("ix_ordering_delivered", "delivered_at"),
    # the rows that name an event as overtaken: redone when its deliveries are pruned
    Index("ix_ordering_overtook", "overtook_event_id", "endpoint_id"),
)
"""A delivered delivery that reached its endpoint before one of an event the same user made earlier
(console.store.ordering), with that event: the latest delivered of those it overtook (the earliest to occur
among equals). Kept by every write that delivers, by prune, and filled by the upgrade to version 10."""


def _rollup(name: str) -> Table:
    """Counters per bucket x endpoint x event type x trigger; delivery counters sit in the bucket and
    trigger of the delivery's first attempt. `bucket` is an epoch minute or an epoch hour."""
    return Table(
        name,
        METADATA,
        _key("bucket", BigInteger),
        _key("endpoint_id"),
        _key("event_type"),
        _key("trigger"),
        _int("attempts"),
        _int("successes"),
        _int("http_errors"),
        _int("timeouts"),
        _int("network_errors"),
        _int("first_attempts"),
        _int("first_successes"),
        _int("deliveries"),
        _int("delivered"),
        _int("latency_count"),
        _float("latency_sum"),
        _str("latency_hist"),  # JSON: {bucket: count}
        # Of the deliveries counted in `delivered` (schema version 8; console.store.rollup), JSON as above:
        _str("retries_hist", nullable=True),  # {attempt number that delivered: deliveries}
        _str("ttd_hist", nullable=True),  # {latency bucket of ms from first attempt to delivery: deliveries}
    )


rollup_minute = _rollup("rollup_minute")
rollup_hour = _rollup("rollup_hour")
ROLLUPS = {t.name: t for t in (rollup_minute, rollup_hour)}


def _closed(name: str) -> Table:
    """Deliveries leaving the backlog per bucket x endpoint x event type (schema version 9;
    console.store.closed_counts). `bucket` is an epoch minute or an epoch hour."""
    return Table(
        name,
        METADATA,
        _key("bucket", BigInteger),
        _key("endpoint_id"),
        _key("event_type"),
        # delivered ones, in the bucket they were first delivered in (once pruned: of their first attempt)
        _int("closed"),
        _int("pruned"),  # pruned undelivered, in the bucket of their first attempt
    )


closed_minute = _closed("closed_minute")
closed_hour = _closed("closed_hour")
CLOSED = {"rollup_minute": closed_minute, "rollup_hour": closed_hour}  # by the rollup table of the same grain

failure_minute = Table(
    "failure_minute",
    METADATA,
    _key("bucket", BigInteger),
    _key("endpoint_id"),
    _key("event_type"),
    _key("status_code", Integer),  # 0: none
    _key("error_kind"),
    _int("count"),
    _ms("last_at"),
)
"""Failed attempts per minute x endpoint x event type x status code x error kind."""

replay_job = Table(
    "replay_job",
    METADATA,
    _key("id"),
    _ms("created_at"),
    _str("state"),
    _str("selection"),
    _bool("force"),
    _int("concurrency"),
    _int("total"),
    _ms("started_at", nullable=True),
    _ms("finished_at", nullable=True),
    _ms("heartbeat_at", nullable=True),
    _str("runner", nullable=True),
    _str("note", nullable=True),
    _str("operator", nullable=True),  # who started the job (--operator; default user@host)
    _str("reason", nullable=True),  # why (--reason; required with --force)
    _str("target_url", nullable=True),  # --to: the job sent to this URL instead of the endpoints' own
    _str("target_secret", nullable=True),  # --to-secret: a reference (env:NAME, file:PATH), never the secret
    _str(
        "options", nullable=True
    ),  # the job's options as JSON (console.domain.replay.JobOptions); NULL before v4
)
"""A replay job: the selection it was planned from, its options and state (item counts come from items)."""

replay_item = Table(
    "replay_item",
    METADATA,
    _key("job_id"),
    _key("event_id"),
    _key("endpoint_id"),
    _int("position"),
    _str("state"),
    _int("attempts"),
    _int("last_status_code", nullable=True),
    _str("last_error", nullable=True),
    _ms("updated_at"),
    Index("ix_replay_item_state", "job_id", "state", "position"),
)
"""One event x endpoint of a job; its state is written before and after every send."""

replay_target_attempt = Table(
    "replay_target_attempt",
    METADATA,
    _seq(),
    _str("job_id"),
    _str("event_id"),
    _str("endpoint_id"),  # the real endpoint
    _str("target_url"),
    _int("attempt"),
    _ms("attempted_at"),
    _str("outcome"),
    _int("status_code", nullable=True),
    _float("latency_ms", nullable=True),
    _str("error", nullable=True),
    Index("ix_target_attempt_job", "job_id", "event_id", "endpoint_id"),
)
"""One attempt of a replay sent to another target (`replay --to URL`), kept apart from delivery_attempt."""

source_cursor = Table(
    "source_cursor",
    METADATA,
    _key("source"),  # the source's URL without credentials, plus options
    Column("state", Text(), nullable=False),  # JSON object
    _ms("updated_at"),
)
"""Where each dispatcher source stopped reading (console.store.cursors)."""

alert_state = Table(
    "alert_state",
    METADATA,
    _key("rule"),
    _key("endpoint_id"),
    _str("state"),  # ok -> pending -> firing -> resolved
    _ms("since_ms", nullable=True),
    _ms("changed_ms"),
    _ms("notified_ms", nullable=True),
    _float("value", nullable=True),
)
"""The state machine of one (rule, endpoint)."""

alert_outbox = Table(
    "alert_outbox",
    METADATA,
    _seq(),
    _str("channel"),
    _str("notification_id"),
    _str("body"),
    _ms("created_ms"),
    _int("tries"),
    _ms("next_try_ms"),
    _ms("sent_ms", nullable=True),  # once the channel took it
    _bool("dead"),  # once given up on
    _str("last_error", nullable=True),
    Index("ix_alert_outbox_pending", "channel", "sent_ms", "seq"),
)
"""A notification for one channel, taken in `seq` order."""

metric_total = Table(
    "metric_total",
    METADATA,
    _key("endpoint_id"),
    _key("series"),
    _float("value"),
)
"""A running total behind /metrics (console/store/totals.py): one row per endpoint and series, plus the
bookkeeping rows of endpoint '' (the last attempt `seq` counted, the newest attempt time counted)."""
