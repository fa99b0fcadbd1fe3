"""The store's tables (SQLModel). Times are epoch milliseconds; rollup buckets are whole minutes or hours.

Table objects never leave `console.store`: queries return domain values or DataFrames.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, text
from sqlmodel import Field, SQLModel

# SQLite makes an INTEGER PRIMARY KEY the rowid (cheap, monotonic); PostgreSQL gets a BIGINT identity.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


def _ms(nullable: bool = False, index: bool = False) -> object:
    return Field(default=None if nullable else 0, sa_type=BigInteger, nullable=nullable, index=index)


class Meta(SQLModel, table=True):
    """Key/value facts about the store itself, such as the schema version."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class Endpoint(SQLModel, table=True):
    """An endpoint seen in a log or configured in endpoints.toml (the secret reference, never the secret)."""

    __tablename__ = "endpoint"
    id: str = Field(primary_key=True)
    name: str | None = None
    url: str | None = None
    scheme: str | None = None
    enabled: bool = True
    source: str | None = None  # its dispatcher tenant, e.g. svix:app_… (docs/sources.md); None for log files


class Event(SQLModel, table=True):
    """One event, its payload kept once as the exact bytes sent."""

    __tablename__ = "event"
    __table_args__ = (
        # (key, time, id): the newest event of a reward or user is one index walk (replay's superseded check)
        Index("ix_event_user_time", "user_id", "occurred_at", "event_id"),
        Index("ix_event_reward_time", "reward_id", "occurred_at", "event_id"),
    )
    event_id: str = Field(primary_key=True)
    event_type: str
    occurred_at: int = _ms()  # type: ignore[assignment]
    payload: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    user_id: str | None = None
    reward_id: str | None = None
    amount: str | None = None
    currency: str | None = None


class DeliveryAttempt(SQLModel, table=True):
    """One HTTP attempt. `seq` grows with every insert, so live readers ask for `seq > last_seen`."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (
        Index("ux_attempt_natural", "event_id", "endpoint_id", "attempt", "trigger", unique=True),
        Index("ix_attempt_time", "attempted_at"),
    )
    seq: int | None = Field(default=None, sa_column=Column(SEQ_TYPE, primary_key=True, autoincrement=True))
    event_id: str
    event_type: str
    endpoint_id: str
    attempt: int
    attempted_at: int = _ms()  # type: ignore[assignment]
    status_code: int | None = None
    latency_ms: float | None = None
    outcome: str
    error: str | None = None
    trigger: str = "scheduled"
    replay_job_id: str | None = None
    request_headers: str | None = None
    response_excerpt: str | None = None


class Delivery(SQLModel, table=True):
    """The current state of one event at one endpoint, kept up to date by every write of attempts."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_first", "first_attempt_at"),
        Index(
            "ix_delivery_undelivered",
            "first_attempt_at",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )
    event_id: str = Field(primary_key=True)
    endpoint_id: str = Field(primary_key=True)
    event_type: str
    attempts: int = 0
    successes: int = 0
    max_attempt: int = 0
    first_attempt_at: int = _ms()  # type: ignore[assignment]
    first_attempt: int = 0
    first_trigger: str = "scheduled"
    first_outcome: str = ""
    last_attempt_at: int = _ms()  # type: ignore[assignment]
    last_attempt: int = 0
    last_outcome: str = ""
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: int | None = _ms(nullable=True)  # type: ignore[assignment]
    delivered_attempt: int | None = None
    claim_job: str | None = None
    claim_until: int | None = _ms(nullable=True)  # type: ignore[assignment]


class _RollupColumns(SQLModel):
    """Counters per bucket x endpoint x event type x trigger; delivery counters sit in the bucket and
    trigger of the delivery's first attempt."""

    bucket: int = Field(primary_key=True, sa_type=BigInteger)  # epoch minute or epoch hour
    endpoint_id: str = Field(primary_key=True)
    event_type: str = Field(primary_key=True)
    trigger: str = Field(primary_key=True)
    attempts: int = 0
    successes: int = 0
    http_errors: int = 0
    timeouts: int = 0
    network_errors: int = 0
    first_attempts: int = 0
    first_successes: int = 0
    deliveries: int = 0
    delivered: int = 0
    latency_count: int = 0
    latency_sum: float = 0.0
    latency_hist: str = "{}"


class RollupMinute(_RollupColumns, table=True):
    __tablename__ = "rollup_minute"


class RollupHour(_RollupColumns, table=True):
    __tablename__ = "rollup_hour"


class FailureMinute(SQLModel, table=True):
    """Failed attempts per minute x endpoint x event type x status code (0: none) x error kind."""

    __tablename__ = "failure_minute"
    bucket: int = Field(primary_key=True, sa_type=BigInteger)
    endpoint_id: str = Field(primary_key=True)
    event_type: str = Field(primary_key=True)
    status_code: int = Field(primary_key=True)
    error_kind: str = Field(primary_key=True)
    count: int = 0
    last_at: int = _ms()  # type: ignore[assignment]


class ReplayJob(SQLModel, table=True):
    """A replay job: the selection it was planned from, its options and state (item counts come from items)."""

    __tablename__ = "replay_job"
    id: str = Field(primary_key=True)
    created_at: int = _ms()  # type: ignore[assignment]
    state: str = "planned"
    selection: str = "{}"
    force: bool = False
    concurrency: int = 10
    total: int = 0
    started_at: int | None = _ms(nullable=True)  # type: ignore[assignment]
    finished_at: int | None = _ms(nullable=True)  # type: ignore[assignment]
    heartbeat_at: int | None = _ms(nullable=True)  # type: ignore[assignment]
    runner: str | None = None
    note: str | None = None
    operator: str | None = None  # who started the job (--operator; default user@host)
    reason: str | None = None  # why (--reason; required with --force)
    target_url: str | None = None  # --to: the job sent to this URL instead of the endpoints' own
    target_secret: str | None = None  # --to-secret: a reference (env:NAME, file:PATH), never the secret
    options: str | None = None  # the job's options as JSON (console.domain.replay.JobOptions); None before v4


class ReplayItem(SQLModel, table=True):
    """One event x endpoint of a job; its state is written before and after every send."""

    __tablename__ = "replay_item"
    __table_args__ = (Index("ix_replay_item_state", "job_id", "state", "position"),)
    job_id: str = Field(primary_key=True)
    event_id: str = Field(primary_key=True)
    endpoint_id: str = Field(primary_key=True)
    position: int = 0
    state: str = "pending"
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    updated_at: int = _ms()  # type: ignore[assignment]


class MetricTotal(SQLModel, table=True):
    """A running total behind /metrics (console/store/totals.py): one row per endpoint and series, plus the
    bookkeeping rows of endpoint '' (the last attempt `seq` counted, the newest attempt time counted)."""

    __tablename__ = "metric_total"
    endpoint_id: str = Field(primary_key=True)
    series: str = Field(primary_key=True)
    value: float = 0.0
