"""Convoy table DDL as left by the sql-migrate Up sections of frain-dev/convoy
commit 2b60cc652e1d (git describe: v26.7.3-1-g2b60cc652; the VERSION file there still reads v26.6.6)."""

import datetime

# Everything below is unqualified: Convoy's own migrations create these objects
# in schema "convoy", these strings run in whatever schema is first on the
# search_path. Column order follows the final physical order (columns added by
# later migrations come last), types and defaults are what the migrated
# catalog reports. Ids are ULIDs stored as unbounded VARCHAR (the original
# VARCHAR(26) was widened by sql/1684504109.sql and sql/1684884904.sql).
#
# Foreign keys into tables that are not part of this set are left out, each
# marked where it would be:
#   organisations.owner_id        -> users(id)
#   events.source_id              -> sources(id)
#   event_deliveries.device_id    -> devices(id)
#   event_deliveries.subscription_id -> subscriptions(id)
# Non-unique indexes are left out too, except on delivery_attempts.

DDL_TYPES = """
CREATE TYPE endpoint_content_types AS ENUM ('application/json', 'application/x-www-form-urlencoded');
CREATE TYPE delivery_mode AS ENUM ('at_least_once', 'at_most_once');
"""

DDL_ORGANISATIONS = """
CREATE TABLE organisations (
    id              VARCHAR     NOT NULL,
    name            TEXT        NOT NULL,
    owner_id        VARCHAR     NOT NULL,  -- Convoy: REFERENCES users(id) (omitted)
    custom_domain   TEXT,
    assigned_domain TEXT,
    created_at      TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    deleted_at      TIMESTAMPTZ,
    disabled_at     TIMESTAMPTZ,
    license_data    TEXT,
    CONSTRAINT organisations_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX organisations_custom_domain
    ON organisations (custom_domain, assigned_domain) WHERE deleted_at IS NULL;
"""

# Project settings live here, one row per project (projects.project_configuration_id).
# signature_versions is a JSON array of {"uid","hash","encoding","created_at"};
# hash is "SHA256" or "SHA512", encoding "hex" or "base64". Whether the header is
# the simple or the advanced (t=...,v1=...) form is endpoints.advanced_signatures.
DDL_PROJECT_CONFIGURATIONS = """
CREATE TABLE project_configurations (
    id                                VARCHAR     NOT NULL,
    max_payload_read_size             INTEGER     NOT NULL,
    replay_attacks_prevention_enabled BOOLEAN     NOT NULL,
    ratelimit_count                   INTEGER     NOT NULL,
    ratelimit_duration                INTEGER     NOT NULL,
    strategy_type                     TEXT        NOT NULL,
    strategy_duration                 INTEGER     NOT NULL,
    strategy_retry_count              INTEGER     NOT NULL,
    signature_header                  TEXT        NOT NULL,
    signature_versions                JSONB       NOT NULL,
    created_at                        TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at                        TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    deleted_at                        TIMESTAMPTZ,
    disable_endpoint                  BOOLEAN     NOT NULL DEFAULT FALSE,
    meta_events_enabled               BOOLEAN     NOT NULL DEFAULT FALSE,
    meta_events_type                  TEXT,
    meta_events_event_type            TEXT,
    meta_events_url                   TEXT,
    meta_events_secret                TEXT,
    meta_events_pub_sub               JSONB,
    search_policy                     TEXT        DEFAULT '720h',
    multiple_endpoint_subscriptions   BOOLEAN     NOT NULL DEFAULT FALSE,
    ssl_enforce_secure_endpoints      BOOLEAN     DEFAULT TRUE,
    cb_sample_rate                    INTEGER     NOT NULL DEFAULT 30,
    cb_error_timeout                  INTEGER     NOT NULL DEFAULT 30,
    cb_failure_threshold              INTEGER     NOT NULL DEFAULT 70,
    cb_success_threshold              INTEGER     NOT NULL DEFAULT 5,
    cb_observability_window           INTEGER     NOT NULL DEFAULT 5,
    cb_minimum_request_count          INTEGER     NOT NULL DEFAULT 10,
    cb_consecutive_failure_threshold  INTEGER     NOT NULL DEFAULT 10,
    request_id_header                 TEXT        NOT NULL DEFAULT 'X-Convoy-Idempotency-Key',
    sync_dynamic_event_ack            BOOLEAN     NOT NULL DEFAULT FALSE,
    allow_unmatched_dynamic_urls      BOOLEAN     NOT NULL DEFAULT FALSE,
    verify_dynamic_events             BOOLEAN     NOT NULL DEFAULT FALSE,
    CONSTRAINT project_configurations_pkey PRIMARY KEY (id)
);
"""

DDL_PROJECTS = """
CREATE TABLE projects (
    id                       VARCHAR     NOT NULL,
    name                     TEXT        NOT NULL,
    type                     TEXT        NOT NULL,
    logo_url                 TEXT,
    retained_events          INTEGER     DEFAULT 0,
    organisation_id          VARCHAR     NOT NULL REFERENCES organisations (id),
    project_configuration_id VARCHAR     NOT NULL
        REFERENCES project_configurations (id) ON DELETE CASCADE,
    created_at               TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at               TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    deleted_at               TIMESTAMPTZ,
    CONSTRAINT projects_pkey PRIMARY KEY (id),
    CONSTRAINT name_org_id_key UNIQUE NULLS NOT DISTINCT (name, organisation_id, deleted_at)
);
"""

# status is free TEXT: Convoy writes 'active', 'inactive' or 'paused'.
DDL_ENDPOINTS = """
CREATE TABLE endpoints (
    id                                              VARCHAR     NOT NULL,
    status                                          TEXT        NOT NULL,
    owner_id                                        TEXT,
    description                                     TEXT,
    rate_limit                                      INTEGER     NOT NULL,
    advanced_signatures                             BOOLEAN     NOT NULL,
    slack_webhook_url                               TEXT,
    support_email                                   TEXT,
    app_id                                          TEXT,
    project_id                                      VARCHAR     NOT NULL REFERENCES projects (id),
    authentication_type                             TEXT,
    authentication_type_api_key_header_name         TEXT,
    authentication_type_api_key_header_value        TEXT,
    secrets                                         JSONB       NOT NULL,
    created_at                                      TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at                                      TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    deleted_at                                      TIMESTAMPTZ,
    http_timeout                                    INTEGER     NOT NULL,
    rate_limit_duration                             INTEGER     NOT NULL,
    name                                            TEXT        NOT NULL,
    url                                             TEXT        NOT NULL,
    is_encrypted                                    BOOLEAN     DEFAULT FALSE,
    secrets_cipher                                  BYTEA,
    authentication_type_api_key_header_value_cipher BYTEA,
    content_type                                    endpoint_content_types NOT NULL
                                                        DEFAULT 'application/json',
    mtls_client_cert_cipher                         BYTEA,
    mtls_client_cert                                JSONB,
    oauth2_config                                   JSONB,
    oauth2_config_cipher                            BYTEA,
    basic_auth_config                               JSONB,
    basic_auth_config_cipher                        TEXT,
    teams_webhook_url                               TEXT,
    CONSTRAINT endpoints_pkey PRIMARY KEY (id)
);
"""

# data holds the JSON payload bytes (what is sent, via event_deliveries.metadata
# ->> 'raw'); raw is often written as '' by the ingest paths.
DDL_EVENTS = """
CREATE TABLE events (
    id                 VARCHAR     NOT NULL,
    event_type         TEXT        NOT NULL,
    endpoints          TEXT,
    project_id         VARCHAR     NOT NULL REFERENCES projects (id),
    source_id          VARCHAR,    -- Convoy: REFERENCES sources(id) (omitted)
    headers            JSONB,
    raw                TEXT        NOT NULL,
    data               BYTEA       NOT NULL,
    created_at         TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at         TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    deleted_at         TIMESTAMPTZ,
    url_query_params   VARCHAR,
    idempotency_key    TEXT,
    is_duplicate_event BOOLEAN     DEFAULT FALSE,
    acknowledged_at    TIMESTAMPTZ,
    status             TEXT,
    metadata           TEXT,
    url_path           VARCHAR     NOT NULL DEFAULT '',
    raw_bytes          BIGINT,
    data_bytes         BIGINT,
    failure_reason     TEXT,
    CONSTRAINT events_pkey PRIMARY KEY (id)
);
"""

# status is free TEXT: 'Scheduled', 'Processing', 'Discarded', 'Failure',
# 'Success', 'Retry'; updated in place by UPDATE ... WHERE id AND project_id.
DDL_EVENT_DELIVERIES = """
CREATE TABLE event_deliveries (
    id               VARCHAR     NOT NULL,
    status           TEXT        NOT NULL,
    description      TEXT        NOT NULL,
    project_id       VARCHAR     NOT NULL REFERENCES projects (id),
    endpoint_id      VARCHAR     REFERENCES endpoints (id),
    event_id         VARCHAR     NOT NULL REFERENCES events (id),
    device_id        VARCHAR,    -- Convoy: REFERENCES devices(id) (omitted)
    subscription_id  VARCHAR     NOT NULL,  -- Convoy: REFERENCES subscriptions(id) (omitted)
    metadata         JSONB       NOT NULL,
    headers          JSONB,
    attempts         BYTEA,
    cli_metadata     JSONB,
    created_at       TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at       TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    deleted_at       TIMESTAMPTZ,
    url_query_params VARCHAR,
    idempotency_key  TEXT,
    latency          TEXT,
    event_type       TEXT,
    acknowledged_at  TIMESTAMPTZ,
    latency_seconds  NUMERIC,
    delivery_mode    delivery_mode DEFAULT 'at_least_once',
    target_url       TEXT,
    event_bytes      BIGINT,
    CONSTRAINT event_deliveries_pkey PRIMARY KEY (id)
);
-- two of the indexes sql/1677770163.sql and later migrations create (CONCURRENTLY there)
CREATE INDEX idx_event_deliveries_event_id_key ON event_deliveries (event_id);
CREATE INDEX idx_event_deliveries_project_id_event_id ON event_deliveries (project_id, event_id);
COMMENT ON COLUMN event_deliveries.delivery_mode IS
    'Cached delivery mode from subscription at creation time. Can be either at_least_once or at_most_once';
"""

# Columns exactly as sql/1721127636.sql, 1736807673.sql (response_data text ->
# bytea) and 1782000000.sql (requested_at, responded_at) leave them.
_ATTEMPT_COLUMNS = """
    id                   VARCHAR     NOT NULL,
    url                  TEXT        NOT NULL,
    method               VARCHAR     NOT NULL,
    api_version          VARCHAR     NOT NULL,
    project_id           VARCHAR     NOT NULL,
    endpoint_id          VARCHAR     NOT NULL,
    event_delivery_id    VARCHAR     NOT NULL,
    ip_address           VARCHAR,
    request_http_header  JSONB,
    response_http_header JSONB,
    http_status          VARCHAR,
    response_data        BYTEA,
    error                TEXT,
    status               BOOLEAN,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at           TIMESTAMPTZ,
    requested_at         TIMESTAMPTZ,
    responded_at         TIMESTAMPTZ"""

_ATTEMPT_INDEXES = """
CREATE INDEX idx_delivery_attempts_created_at_id_event_delivery_id
    ON delivery_attempts USING brin (created_at, id, project_id, event_delivery_id)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_delivery_attempts_created_at ON delivery_attempts (created_at);
CREATE INDEX idx_delivery_attempts_event_delivery_id ON delivery_attempts (event_delivery_id);
CREATE INDEX idx_delivery_attempts_event_delivery_id_created_at
    ON delivery_attempts (event_delivery_id, created_at);
CREATE INDEX idx_delivery_attempts_event_delivery_id_created_at_desc
    ON delivery_attempts (event_delivery_id, created_at DESC);
"""

DDL_DELIVERY_ATTEMPTS = (
    "\nCREATE TABLE delivery_attempts ("
    + _ATTEMPT_COLUMNS
    + """,
    CONSTRAINT delivery_attempts_pkey PRIMARY KEY (id),
    CONSTRAINT delivery_attempts_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id),
    CONSTRAINT delivery_attempts_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES endpoints (id),
    CONSTRAINT delivery_attempts_event_delivery_id_fkey
        FOREIGN KEY (event_delivery_id) REFERENCES event_deliveries (id)
);
"""
    + _ATTEMPT_INDEXES
)

# Every table but delivery_attempts, for pairing with DDL_PARTITIONED_ATTEMPTS.
DDL_BASE: str = (
    DDL_TYPES
    + DDL_ORGANISATIONS
    + DDL_PROJECT_CONFIGURATIONS
    + DDL_PROJECTS
    + DDL_ENDPOINTS
    + DDL_EVENTS
    + DDL_EVENT_DELIVERIES
)

# The schema a fresh `convoy migrate up` leaves: delivery_attempts is a plain heap.
DDL: str = DDL_BASE + DDL_DELIVERY_ATTEMPTS

# What Convoy really does (internal/pkg/attach/convert.go, spec.go;
# internal/delivery_attempts/partition.go), only on `convoy utils partition`
# or the admin UI, never in a migration:
#   * the existing heap is renamed delivery_attempts_default and becomes the
#     DEFAULT partition (its PK is swapped for (id, created_at, project_id),
#     and a NOT VALID CHECK "created_at < cutoff" bounds it);
#   * a new parent is created LIKE it, with PRIMARY KEY (id, created_at,
#     project_id), PARTITION BY RANGE (project_id, created_at), and parent FKs
#     project_id -> projects, endpoint_id -> endpoints;
#   * event_delivery_id -> event_deliveries is no longer an FK: a BEFORE INSERT
#     trigger (enforce_event_delivery_fk) checks the id exists instead;
#   * non-unique indexes are recreated ON ONLY the parent and attached;
#   * one partition per live project and UTC day is pre-made, for the cutoff
#     day (UTC midnight today + 14 days) and the 10 days after it, named
#     delivery_attempts_<UPPER(project id minus '-')>_<YYYYMMDD>,
#     FOR VALUES FROM (pid, day 00:00 UTC) TO (pid, day+1 00:00 UTC).
#     Later days come from gopartman (tenant column project_id, daily, premake 10),
#     same naming.
# This string stands alone in an empty schema, so the parent FKs and the trigger
# are left out here; PARTITIONED_ATTEMPTS_LINKS adds them once DDL_BASE exists.
DDL_PARTITIONED_ATTEMPTS: str = (
    "\nCREATE TABLE delivery_attempts ("
    + _ATTEMPT_COLUMNS
    + """,
    PRIMARY KEY (id, created_at, project_id)
) PARTITION BY RANGE (project_id, created_at);
CREATE TABLE delivery_attempts_default PARTITION OF delivery_attempts DEFAULT;
"""
    + _ATTEMPT_INDEXES
)

# Run after DDL_BASE + DDL_PARTITIONED_ATTEMPTS to get Convoy's integrity rules.
PARTITIONED_ATTEMPTS_LINKS: str = """
ALTER TABLE delivery_attempts
    ADD FOREIGN KEY (project_id) REFERENCES projects (id),
    ADD FOREIGN KEY (endpoint_id) REFERENCES endpoints (id);
CREATE FUNCTION enforce_event_delivery_fk() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM event_deliveries WHERE id = NEW.event_delivery_id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'Foreign key violation: event_delivery_id % does not exist in event deliveries',
        NEW.event_delivery_id;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER event_delivery_fk_check
    BEFORE INSERT ON delivery_attempts
    FOR EACH ROW EXECUTE FUNCTION enforce_event_delivery_fk();
"""


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def attempt_partition_name(project_id: str, day: datetime.date) -> str:
    """Convoy's name: delivery_attempts_<UPPER(project id without '-')>_<YYYYMMDD>."""
    return f"delivery_attempts_{project_id.replace('-', '').upper()}_{day:%Y%m%d}"


def attempt_partition_ddl(project_id: str, day: datetime.date) -> str:
    """One delivery_attempts partition: a project's rows for one UTC day."""
    name = attempt_partition_name(project_id, day).replace('"', '""')
    start = _literal(f"{day.isoformat()} 00:00:00+00")
    end = _literal(f"{(day + datetime.timedelta(days=1)).isoformat()} 00:00:00+00")
    pid = _literal(project_id)
    return (
        f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF delivery_attempts '
        f"FOR VALUES FROM ({pid}, {start}) TO ({pid}, {end});"
    )
