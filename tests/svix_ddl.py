"""Svix server tables as of svix-server at commit 4fc0cfb8b426c87ef7e2b937e7d896a71d456a47 (server 1.100.0),
written from its migrations; three eras."""

# Source: svix/svix-webhooks, server/svix-server/migrations/*.up.sql (applied by sqlx in filename order)
# plus server/svix-server/src/db/background_migrations.rs. Only the tables a reader of deliveries needs:
# application, endpoint, eventtype, message, messagecontent, messagedestination, messageattempt.
# Left out: applicationmetadata, endpointmetadata (no foreign key points at them), _sqlx_migrations,
# _svix_background_migrations, and the six operational-webhook eventtype rows that
# 20230505222507_operational_webhook_event-types.up.sql inserts for org_00000000000SvixManagement00.
#
# Eras (they differ only in messageattempt and its indexes; every other table is the same in all three):
#   DDL_BEFORE_DURATION        state before 20240906000000_add_response_duration.up.sql
#                              (that migration first shipped in server v1.64.1, PR #1877; so servers
#                              v1.33.0 (eventtype.deprecated) .. v1.64.0 look like this)
#   DDL_BEFORE_ATTEMPT_NUMBER  state before 20250905195339_messageattempt_updates.up.sql
#                              (shipped with 20250909214223_messageattempt_endp_idx.up.sql in server v1.77.0,
#                              PR #2059 "Remove `messagedestination`"; so servers v1.64.1 .. v1.76.x)
#   DDL_CURRENT                state after all migrations at the commit, plus the background-migration
#                              index added in server v1.93.0
#
# Identifiers are KsuidMs strings with a prefix (app_, ep_, msg_, atmpt_, msgep_, evtype_, org_); they are
# compared under COLLATE "C" so ordering by id is ordering by creation time (4 ms resolution).

_APPLICATION = """
CREATE TABLE application (
    id          varchar COLLATE "C" NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    org_id      varchar COLLATE "C" NOT NULL,
    uid         varchar COLLATE "C",           -- set to NULL when the application is soft-deleted
    name        varchar NOT NULL,
    rate_limit  integer,
    deleted     boolean NOT NULL,              -- soft delete; rows are kept
    CONSTRAINT pk_application PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_application_unique_uid_per_org_cond ON application (org_id, uid) WHERE uid IS NOT NULL;
"""

_ENDPOINT = """
CREATE TABLE endpoint (
    id                varchar COLLATE "C" NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    app_id            varchar COLLATE "C" NOT NULL,
    key               bytea NOT NULL,
    url               varchar NOT NULL,
    description       varchar NOT NULL,
    event_types_ids   jsonb,
    version           integer NOT NULL,
    rate_limit        integer,
    deleted           boolean NOT NULL,        -- soft delete; uid is set to NULL at the same time
    disabled          boolean NOT NULL,
    first_failure_at  timestamptz,
    uid               varchar COLLATE "C",
    old_keys          jsonb,
    channels          jsonb,
    headers           jsonb,                   -- 20220218061228_endpoint_headers
    CONSTRAINT pk_endpoint PRIMARY KEY (id),
    CONSTRAINT fk_endpoint_app_id_application FOREIGN KEY (app_id)
        REFERENCES application (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ix_endpoint_uid_unique_app_cond ON endpoint (app_id, uid) WHERE uid IS NOT NULL;
"""

_EVENTTYPE = """
CREATE TABLE eventtype (
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    id            varchar COLLATE "C" NOT NULL,
    org_id        varchar COLLATE "C" NOT NULL,
    description   varchar NOT NULL,
    deleted       boolean NOT NULL,
    schemas       json,
    name          varchar COLLATE "C" NOT NULL,  -- collation changed to "C" by 20221129215059_correct_collation
    feature_flag  text,                          -- 20230116095641_add_event_type_feature_flags
    deprecated    boolean NOT NULL DEFAULT false,  -- 20240806212329_add_event_type_deprecated
    CONSTRAINT pk_eventtype PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_event_type_unique_org ON eventtype (org_id, name);
"""

# message.updated_at was dropped by 20220506181355; payload became nullable and expiration was added by
# 20220428190104. Since messagecontent (20231010170520) the server writes payloads there and leaves
# message.payload NULL; the old column is still read as a fallback.
_MESSAGE = """
CREATE TABLE message (
    id          varchar COLLATE "C" NOT NULL,
    created_at  timestamptz NOT NULL,
    org_id      varchar COLLATE "C" NOT NULL,
    app_id      varchar COLLATE "C" NOT NULL,
    event_type  varchar COLLATE "C" NOT NULL,
    uid         varchar COLLATE "C",
    payload     jsonb,
    channels    jsonb,
    expiration  timestamptz NOT NULL DEFAULT now() + interval '90 day',
    CONSTRAINT pk_message PRIMARY KEY (id),
    CONSTRAINT fk_message_app_id_application FOREIGN KEY (app_id)
        REFERENCES application (id) ON DELETE CASCADE
);
CREATE INDEX ix_message_per_app ON message (app_id, id DESC);
CREATE UNIQUE INDEX ix_message_uid_unique_app_cond ON message (app_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX message_payload_not_null_pidx ON message (expiration) WHERE payload IS NOT NULL;
"""

# No foreign key to message: the id equals message.id, but the migration declares none. The expired
# message cleaner deletes rows whose expiration has passed.
_MESSAGECONTENT = """
CREATE TABLE messagecontent (
    id          varchar COLLATE "C" NOT NULL,
    created_at  timestamptz NOT NULL,
    payload     bytea NOT NULL,
    expiration  timestamptz NOT NULL DEFAULT now() + interval '90 day',
    CONSTRAINT pk_messagecontent PRIMARY KEY (id)
);
CREATE INDEX messagecontent_expiry ON messagecontent (expiration);
"""

# Still present in every era; written by the worker only before server v1.77.0.
_MESSAGEDESTINATION = """
CREATE TABLE messagedestination (
    id            varchar COLLATE "C" NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    msg_id        varchar COLLATE "C" NOT NULL,
    endp_id       varchar COLLATE "C" NOT NULL,
    status        smallint NOT NULL,
    next_attempt  timestamptz,
    CONSTRAINT pk_messagedestination PRIMARY KEY (id),
    CONSTRAINT fk_messagedestination_msg_id_message FOREIGN KEY (msg_id)
        REFERENCES message (id) ON DELETE CASCADE,
    CONSTRAINT fk_messagedestination_endp_id_endpoint FOREIGN KEY (endp_id)
        REFERENCES endpoint (id) ON DELETE CASCADE
);
CREATE INDEX ix_messagedestination_per_endp_no_status ON messagedestination (endp_id, id DESC);
CREATE INDEX ix_messagedestination_per_endp_with_status ON messagedestination (endp_id, status, id DESC);
CREATE INDEX ix_messagedestination_per_msg_no_status ON messagedestination (msg_id);
"""

_COMMON = _APPLICATION + _ENDPOINT + _EVENTTYPE + _MESSAGE + _MESSAGECONTENT + _MESSAGEDESTINATION

# messageattempt.updated_at was dropped by 20220506181355_remove_updated_at_from_static_entities.
# status: 0 success, 1 pending, 2 fail, 3 sending (the worker writes only 0 or 2).
# trigger_type: 0 scheduled, 1 manual. response_status_code is 0 when no HTTP response came.
_ATTEMPT_BEFORE_DURATION = """
CREATE TABLE messageattempt (
    id                    varchar COLLATE "C" NOT NULL,
    created_at            timestamptz NOT NULL,
    msg_id                varchar COLLATE "C" NOT NULL,
    msg_dest_id           varchar COLLATE "C" NOT NULL,
    endp_id               varchar COLLATE "C" NOT NULL,
    url                   varchar NOT NULL,
    status                smallint NOT NULL,
    response_status_code  smallint NOT NULL,
    response              text NOT NULL DEFAULT '',
    ended_at              timestamptz,
    trigger_type          smallint NOT NULL,
    CONSTRAINT pk_messageattempt PRIMARY KEY (id),
    CONSTRAINT fk_messageattempt_msg_dest_id_messagedestination FOREIGN KEY (msg_dest_id)
        REFERENCES messagedestination (id) ON DELETE CASCADE
);
CREATE INDEX ix_messageattempt_per_msg_no_status ON messageattempt (msg_id, id DESC);
"""

# 20240906000000_add_response_duration.up.sql appends response_duration_ms (rows that existed before
# read 0).
_ATTEMPT_BEFORE_ATTEMPT_NUMBER = """
CREATE TABLE messageattempt (
    id                    varchar COLLATE "C" NOT NULL,
    created_at            timestamptz NOT NULL,
    msg_id                varchar COLLATE "C" NOT NULL,
    msg_dest_id           varchar COLLATE "C" NOT NULL,
    endp_id               varchar COLLATE "C" NOT NULL,
    url                   varchar NOT NULL,
    status                smallint NOT NULL,
    response_status_code  smallint NOT NULL,
    response              text NOT NULL DEFAULT '',
    ended_at              timestamptz,
    trigger_type          smallint NOT NULL,
    response_duration_ms  bigint NOT NULL DEFAULT 0,
    CONSTRAINT pk_messageattempt PRIMARY KEY (id),
    CONSTRAINT fk_messageattempt_msg_dest_id_messagedestination FOREIGN KEY (msg_dest_id)
        REFERENCES messagedestination (id) ON DELETE CASCADE
);
CREATE INDEX ix_messageattempt_per_msg_no_status ON messageattempt (msg_id, id DESC);
"""

# 20250905195339_messageattempt_updates.up.sql drops the foreign key to messagedestination, makes
# msg_dest_id nullable (new rows have NULL), appends attempt_number (older rows read -1; manual attempts
# also write -1) and next_attempt. 20250909214223_messageattempt_endp_idx.up.sql adds
# messageattempt_per_endp_unified. messageattempt_per_endp_no_status is not a sqlx migration: it is the
# background migration "2026_04_1777303796_messageattempt_per_endp_no_status" in
# src/db/background_migrations.rs (server v1.93.0), built at runtime with CREATE INDEX CONCURRENTLY when
# background_migrations_enabled (default true), so a live database may lack it for a while.
_ATTEMPT_CURRENT = """
CREATE TABLE messageattempt (
    id                    varchar COLLATE "C" NOT NULL,
    created_at            timestamptz NOT NULL,
    msg_id                varchar COLLATE "C" NOT NULL,
    msg_dest_id           varchar COLLATE "C",
    endp_id               varchar COLLATE "C" NOT NULL,
    url                   varchar NOT NULL,
    status                smallint NOT NULL,
    response_status_code  smallint NOT NULL,
    response              text NOT NULL DEFAULT '',
    ended_at              timestamptz,
    trigger_type          smallint NOT NULL,
    response_duration_ms  bigint NOT NULL DEFAULT 0,
    attempt_number        smallint NOT NULL DEFAULT -1,
    next_attempt          timestamptz,
    CONSTRAINT pk_messageattempt PRIMARY KEY (id)
);
CREATE INDEX ix_messageattempt_per_msg_no_status ON messageattempt (msg_id, id DESC);
CREATE INDEX messageattempt_per_endp_unified ON messageattempt (endp_id, status, id DESC)
    INCLUDE (response_status_code);
CREATE INDEX messageattempt_per_endp_no_status ON messageattempt (endp_id, id DESC)
    INCLUDE (status, response_status_code);
"""

DDL_CURRENT: str = _COMMON + _ATTEMPT_CURRENT
DDL_BEFORE_ATTEMPT_NUMBER: str = _COMMON + _ATTEMPT_BEFORE_ATTEMPT_NUMBER
DDL_BEFORE_DURATION: str = _COMMON + _ATTEMPT_BEFORE_DURATION

__all__ = ["DDL_BEFORE_ATTEMPT_NUMBER", "DDL_BEFORE_DURATION", "DDL_CURRENT"]
