-- schema version 10
-- sqlite
CREATE TABLE alert_outbox (
	seq INTEGER NOT NULL,
	channel VARCHAR NOT NULL,
	notification_id VARCHAR NOT NULL,
	body VARCHAR NOT NULL,
	created_ms BIGINT NOT NULL,
	tries INTEGER NOT NULL,
	next_try_ms BIGINT NOT NULL,
	sent_ms BIGINT,
	dead BOOLEAN NOT NULL,
	last_error VARCHAR,
	PRIMARY KEY (seq)
);
CREATE INDEX ix_alert_outbox_pending ON alert_outbox (channel, sent_ms, seq);
CREATE TABLE alert_state (
	rule VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	state VARCHAR NOT NULL,
	since_ms BIGINT,
	changed_ms BIGINT NOT NULL,
	notified_ms BIGINT,
	value FLOAT,
	PRIMARY KEY (rule, endpoint_id)
);
CREATE TABLE closed_hour (
	bucket BIGINT NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	closed INTEGER NOT NULL,
	pruned INTEGER NOT NULL,
	PRIMARY KEY (bucket, endpoint_id, event_type)
);
CREATE TABLE closed_minute (
	bucket BIGINT NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	closed INTEGER NOT NULL,
	pruned INTEGER NOT NULL,
	PRIMARY KEY (bucket, endpoint_id, event_type)
);
CREATE TABLE delivery (
	event_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	successes INTEGER NOT NULL,
	max_attempt INTEGER NOT NULL,
	first_attempt_at BIGINT NOT NULL,
	first_attempt INTEGER NOT NULL,
	first_trigger VARCHAR NOT NULL,
	first_outcome VARCHAR NOT NULL,
	last_attempt_at BIGINT NOT NULL,
	last_attempt INTEGER NOT NULL,
	last_outcome VARCHAR NOT NULL,
	last_status_code INTEGER,
	last_error VARCHAR,
	delivered_at BIGINT,
	delivered_attempt INTEGER,
	claim_job VARCHAR,
	claim_until BIGINT,
	resolved_at BIGINT,
	resolved_by VARCHAR,
	resolved_reason VARCHAR,
	scheduled_attempts INTEGER,
	scheduled_max INTEGER,
	PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX ix_delivery_duplicates ON delivery (first_attempt_at) WHERE successes > 1;
CREATE INDEX ix_delivery_first ON delivery (first_attempt_at);
CREATE INDEX ix_delivery_resolved ON delivery (first_attempt_at) WHERE delivered_at IS NULL AND resolved_at IS NOT NULL;
CREATE INDEX ix_delivery_skipped ON delivery (first_attempt_at) WHERE scheduled_attempts < scheduled_max;
CREATE INDEX ix_delivery_undelivered ON delivery (first_attempt_at) WHERE delivered_at IS NULL AND resolved_at IS NULL;
CREATE TABLE delivery_attempt (
	seq INTEGER NOT NULL,
	event_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	attempt INTEGER NOT NULL,
	attempted_at BIGINT NOT NULL,
	status_code INTEGER,
	latency_ms FLOAT,
	outcome VARCHAR NOT NULL,
	error VARCHAR,
	"trigger" VARCHAR NOT NULL,
	replay_job_id VARCHAR,
	request_headers VARCHAR,
	response_excerpt VARCHAR,
	PRIMARY KEY (seq)
);
CREATE INDEX ix_attempt_failed ON delivery_attempt (endpoint_id, attempted_at, event_id, outcome) WHERE outcome <> 'success';
CREATE INDEX ix_attempt_time ON delivery_attempt (attempted_at);
CREATE UNIQUE INDEX ux_attempt_natural ON delivery_attempt (event_id, endpoint_id, attempt, "trigger");
CREATE TABLE delivery_resolution (
	seq INTEGER NOT NULL,
	event_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	at BIGINT NOT NULL,
	operator VARCHAR NOT NULL,
	reason VARCHAR NOT NULL,
	action VARCHAR NOT NULL,
	PRIMARY KEY (seq)
);
CREATE INDEX ix_resolution_delivery ON delivery_resolution (event_id, endpoint_id, seq);
CREATE TABLE endpoint (
	id VARCHAR NOT NULL,
	name VARCHAR,
	url VARCHAR,
	scheme VARCHAR,
	enabled BOOLEAN NOT NULL,
	source VARCHAR,
	PRIMARY KEY (id)
);
CREATE TABLE event (
	event_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	occurred_at BIGINT NOT NULL,
	payload BLOB,
	user_id VARCHAR,
	reward_id VARCHAR,
	amount VARCHAR,
	currency VARCHAR,
	PRIMARY KEY (event_id)
);
CREATE INDEX ix_event_reward_time ON event (reward_id, occurred_at, event_id);
CREATE INDEX ix_event_user_time ON event (user_id, occurred_at, event_id);
CREATE TABLE failure_minute (
	bucket BIGINT NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	status_code INTEGER NOT NULL,
	error_kind VARCHAR NOT NULL,
	count INTEGER NOT NULL,
	last_at BIGINT NOT NULL,
	PRIMARY KEY (bucket, endpoint_id, event_type, status_code, error_kind)
);
CREATE TABLE gap_hour_events (
	hour BIGINT NOT NULL,
	event_type VARCHAR NOT NULL,
	src VARCHAR NOT NULL,
	events INTEGER NOT NULL,
	PRIMARY KEY (hour, event_type, src)
);
CREATE TABLE gap_hour_received (
	hour BIGINT NOT NULL,
	event_type VARCHAR NOT NULL,
	src VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	received INTEGER NOT NULL,
	PRIMARY KEY (hour, event_type, src, endpoint_id)
);
CREATE TABLE meta (
	"key" VARCHAR NOT NULL,
	value VARCHAR NOT NULL,
	PRIMARY KEY ("key")
);
CREATE TABLE metric_total (
	endpoint_id VARCHAR NOT NULL,
	series VARCHAR NOT NULL,
	value FLOAT NOT NULL,
	PRIMARY KEY (endpoint_id, series)
);
CREATE TABLE ordering_anomaly (
	event_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	user_id VARCHAR NOT NULL,
	occurred_at BIGINT NOT NULL,
	delivered_at BIGINT NOT NULL,
	overtook_event_id VARCHAR NOT NULL,
	overtook_occurred_at BIGINT NOT NULL,
	overtook_delivered_at BIGINT NOT NULL,
	PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX ix_ordering_delivered ON ordering_anomaly (delivered_at);
CREATE INDEX ix_ordering_overtook ON ordering_anomaly (overtook_event_id, endpoint_id);
CREATE TABLE replay_item (
	job_id VARCHAR NOT NULL,
	event_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	position INTEGER NOT NULL,
	state VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	last_status_code INTEGER,
	last_error VARCHAR,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (job_id, event_id, endpoint_id)
);
CREATE INDEX ix_replay_item_state ON replay_item (job_id, state, position);
CREATE TABLE replay_job (
	id VARCHAR NOT NULL,
	created_at BIGINT NOT NULL,
	state VARCHAR NOT NULL,
	selection VARCHAR NOT NULL,
	force BOOLEAN NOT NULL,
	concurrency INTEGER NOT NULL,
	total INTEGER NOT NULL,
	started_at BIGINT,
	finished_at BIGINT,
	heartbeat_at BIGINT,
	runner VARCHAR,
	note VARCHAR,
	operator VARCHAR,
	reason VARCHAR,
	target_url VARCHAR,
	target_secret VARCHAR,
	options VARCHAR,
	PRIMARY KEY (id)
);
CREATE TABLE replay_target_attempt (
	seq INTEGER NOT NULL,
	job_id VARCHAR NOT NULL,
	event_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	target_url VARCHAR NOT NULL,
	attempt INTEGER NOT NULL,
	attempted_at BIGINT NOT NULL,
	outcome VARCHAR NOT NULL,
	status_code INTEGER,
	latency_ms FLOAT,
	error VARCHAR,
	PRIMARY KEY (seq)
);
CREATE INDEX ix_target_attempt_job ON replay_target_attempt (job_id, event_id, endpoint_id);
CREATE TABLE rollup_hour (
	bucket BIGINT NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	"trigger" VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	successes INTEGER NOT NULL,
	http_errors INTEGER NOT NULL,
	timeouts INTEGER NOT NULL,
	network_errors INTEGER NOT NULL,
	first_attempts INTEGER NOT NULL,
	first_successes INTEGER NOT NULL,
	deliveries INTEGER NOT NULL,
	delivered INTEGER NOT NULL,
	latency_count INTEGER NOT NULL,
	latency_sum FLOAT NOT NULL,
	latency_hist VARCHAR NOT NULL,
	retries_hist VARCHAR,
	ttd_hist VARCHAR,
	PRIMARY KEY (bucket, endpoint_id, event_type, "trigger")
);
CREATE TABLE rollup_minute (
	bucket BIGINT NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	"trigger" VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	successes INTEGER NOT NULL,
	http_errors INTEGER NOT NULL,
	timeouts INTEGER NOT NULL,
	network_errors INTEGER NOT NULL,
	first_attempts INTEGER NOT NULL,
	first_successes INTEGER NOT NULL,
	deliveries INTEGER NOT NULL,
	delivered INTEGER NOT NULL,
	latency_count INTEGER NOT NULL,
	latency_sum FLOAT NOT NULL,
	latency_hist VARCHAR NOT NULL,
	retries_hist VARCHAR,
	ttd_hist VARCHAR,
	PRIMARY KEY (bucket, endpoint_id, event_type, "trigger")
);
CREATE TABLE source_cursor (
	source VARCHAR NOT NULL,
	state TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (source)
);
-- postgresql
CREATE TABLE alert_outbox (
	seq BIGSERIAL NOT NULL,
	channel VARCHAR NOT NULL,
	notification_id VARCHAR NOT NULL,
	body VARCHAR NOT NULL,
	created_ms BIGINT NOT NULL,
	tries INTEGER NOT NULL,
	next_try_ms BIGINT NOT NULL,
	sent_ms BIGINT,
	dead BOOLEAN NOT NULL,
	last_error VARCHAR,
	PRIMARY KEY (seq)
);
CREATE INDEX ix_alert_outbox_pending ON alert_outbox (channel, sent_ms, seq);
CREATE TABLE alert_state (
	rule VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	state VARCHAR NOT NULL,
	since_ms BIGINT,
	changed_ms BIGINT NOT NULL,
	notified_ms BIGINT,
	value FLOAT,
	PRIMARY KEY (rule, endpoint_id)
);
CREATE TABLE closed_hour (
	bucket BIGINT NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	closed INTEGER NOT NULL,
	pruned INTEGER NOT NULL,
	PRIMARY KEY (bucket, endpoint_id, event_type)
);
CREATE TABLE closed_minute (
	bucket BIGINT NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	closed INTEGER NOT NULL,
	pruned INTEGER NOT NULL,
	PRIMARY KEY (bucket, endpoint_id, event_type)
);
CREATE TABLE delivery (
	event_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	successes INTEGER NOT NULL,
	max_attempt INTEGER NOT NULL,
	first_attempt_at BIGINT NOT NULL,
	first_attempt INTEGER NOT NULL,
	first_trigger VARCHAR NOT NULL,
	first_outcome VARCHAR NOT NULL,
	last_attempt_at BIGINT NOT NULL,
	last_attempt INTEGER NOT NULL,
	last_outcome VARCHAR NOT NULL,
	last_status_code INTEGER,
	last_error VARCHAR,
	delivered_at BIGINT,
	delivered_attempt INTEGER,
	claim_job VARCHAR,
	claim_until BIGINT,
	resolved_at BIGINT,
	resolved_by VARCHAR,
	resolved_reason VARCHAR,
	scheduled_attempts INTEGER,
	scheduled_max INTEGER,
	PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX ix_delivery_duplicates ON delivery (first_attempt_at) WHERE successes > 1;
CREATE INDEX ix_delivery_first ON delivery (first_attempt_at);
CREATE INDEX ix_delivery_resolved ON delivery (first_attempt_at) WHERE delivered_at IS NULL AND resolved_at IS NOT NULL;
CREATE INDEX ix_delivery_skipped ON delivery (first_attempt_at) WHERE scheduled_attempts < scheduled_max;
CREATE INDEX ix_delivery_undelivered ON delivery (first_attempt_at) WHERE delivered_at IS NULL AND resolved_at IS NULL;
CREATE TABLE delivery_attempt (
	seq BIGSERIAL NOT NULL,
	event_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	attempt INTEGER NOT NULL,
	attempted_at BIGINT NOT NULL,
	status_code INTEGER,
	latency_ms FLOAT,
	outcome VARCHAR NOT NULL,
	error VARCHAR,
	trigger VARCHAR NOT NULL,
	replay_job_id VARCHAR,
	request_headers VARCHAR,
	response_excerpt VARCHAR,
	PRIMARY KEY (seq)
);
CREATE INDEX ix_attempt_failed ON delivery_attempt (endpoint_id, attempted_at, event_id, outcome) WHERE outcome <> 'success';
CREATE INDEX ix_attempt_time ON delivery_attempt (attempted_at);
CREATE UNIQUE INDEX ux_attempt_natural ON delivery_attempt (event_id, endpoint_id, attempt, trigger);
CREATE TABLE delivery_resolution (
	seq BIGSERIAL NOT NULL,
	event_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	at BIGINT NOT NULL,
	operator VARCHAR NOT NULL,
	reason VARCHAR NOT NULL,
	action VARCHAR NOT NULL,
	PRIMARY KEY (seq)
);
CREATE INDEX ix_resolution_delivery ON delivery_resolution (event_id, endpoint_id, seq);
CREATE TABLE endpoint (
	id VARCHAR NOT NULL,
	name VARCHAR,
	url VARCHAR,
	scheme VARCHAR,
	enabled BOOLEAN NOT NULL,
	source VARCHAR,
	PRIMARY KEY (id)
);
CREATE TABLE event (
	event_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	occurred_at BIGINT NOT NULL,
	payload BYTEA,
	user_id VARCHAR,
	reward_id VARCHAR,
	amount VARCHAR,
	currency VARCHAR,
	PRIMARY KEY (event_id)
);
CREATE INDEX ix_event_reward_time ON event (reward_id, occurred_at, event_id);
CREATE INDEX ix_event_user_time ON event (user_id, occurred_at, event_id);
CREATE TABLE failure_minute (
	bucket BIGINT NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	status_code INTEGER NOT NULL,
	error_kind VARCHAR NOT NULL,
	count INTEGER NOT NULL,
	last_at BIGINT NOT NULL,
	PRIMARY KEY (bucket, endpoint_id, event_type, status_code, error_kind)
);
CREATE TABLE gap_hour_events (
	hour BIGINT NOT NULL,
	event_type VARCHAR NOT NULL,
	src VARCHAR NOT NULL,
	events INTEGER NOT NULL,
	PRIMARY KEY (hour, event_type, src)
);
CREATE TABLE gap_hour_received (
	hour BIGINT NOT NULL,
	event_type VARCHAR NOT NULL,
	src VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	received INTEGER NOT NULL,
	PRIMARY KEY (hour, event_type, src, endpoint_id)
);
CREATE TABLE meta (
	key VARCHAR NOT NULL,
	value VARCHAR NOT NULL,
	PRIMARY KEY (key)
);
CREATE TABLE metric_total (
	endpoint_id VARCHAR NOT NULL,
	series VARCHAR NOT NULL,
	value FLOAT NOT NULL,
	PRIMARY KEY (endpoint_id, series)
);
CREATE TABLE ordering_anomaly (
	event_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	user_id VARCHAR NOT NULL,
	occurred_at BIGINT NOT NULL,
	delivered_at BIGINT NOT NULL,
	overtook_event_id VARCHAR NOT NULL,
	overtook_occurred_at BIGINT NOT NULL,
	overtook_delivered_at BIGINT NOT NULL,
	PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX ix_ordering_delivered ON ordering_anomaly (delivered_at);
CREATE INDEX ix_ordering_overtook ON ordering_anomaly (overtook_event_id, endpoint_id);
CREATE TABLE replay_item (
	job_id VARCHAR NOT NULL,
	event_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	position INTEGER NOT NULL,
	state VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	last_status_code INTEGER,
	last_error VARCHAR,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (job_id, event_id, endpoint_id)
);
CREATE INDEX ix_replay_item_state ON replay_item (job_id, state, position);
CREATE TABLE replay_job (
	id VARCHAR NOT NULL,
	created_at BIGINT NOT NULL,
	state VARCHAR NOT NULL,
	selection VARCHAR NOT NULL,
	force BOOLEAN NOT NULL,
	concurrency INTEGER NOT NULL,
	total INTEGER NOT NULL,
	started_at BIGINT,
	finished_at BIGINT,
	heartbeat_at BIGINT,
	runner VARCHAR,
	note VARCHAR,
	operator VARCHAR,
	reason VARCHAR,
	target_url VARCHAR,
	target_secret VARCHAR,
	options VARCHAR,
	PRIMARY KEY (id)
);
CREATE TABLE replay_target_attempt (
	seq BIGSERIAL NOT NULL,
	job_id VARCHAR NOT NULL,
	event_id VARCHAR NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	target_url VARCHAR NOT NULL,
	attempt INTEGER NOT NULL,
	attempted_at BIGINT NOT NULL,
	outcome VARCHAR NOT NULL,
	status_code INTEGER,
	latency_ms FLOAT,
	error VARCHAR,
	PRIMARY KEY (seq)
);
CREATE INDEX ix_target_attempt_job ON replay_target_attempt (job_id, event_id, endpoint_id);
CREATE TABLE rollup_hour (
	bucket BIGINT NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	trigger VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	successes INTEGER NOT NULL,
	http_errors INTEGER NOT NULL,
	timeouts INTEGER NOT NULL,
	network_errors INTEGER NOT NULL,
	first_attempts INTEGER NOT NULL,
	first_successes INTEGER NOT NULL,
	deliveries INTEGER NOT NULL,
	delivered INTEGER NOT NULL,
	latency_count INTEGER NOT NULL,
	latency_sum FLOAT NOT NULL,
	latency_hist VARCHAR NOT NULL,
	retries_hist VARCHAR,
	ttd_hist VARCHAR,
	PRIMARY KEY (bucket, endpoint_id, event_type, trigger)
);
CREATE TABLE rollup_minute (
	bucket BIGINT NOT NULL,
	endpoint_id VARCHAR NOT NULL,
	event_type VARCHAR NOT NULL,
	trigger VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	successes INTEGER NOT NULL,
	http_errors INTEGER NOT NULL,
	timeouts INTEGER NOT NULL,
	network_errors INTEGER NOT NULL,
	first_attempts INTEGER NOT NULL,
	first_successes INTEGER NOT NULL,
	deliveries INTEGER NOT NULL,
	delivered INTEGER NOT NULL,
	latency_count INTEGER NOT NULL,
	latency_sum FLOAT NOT NULL,
	latency_hist VARCHAR NOT NULL,
	retries_hist VARCHAR,
	ttd_hist VARCHAR,
	PRIMARY KEY (bucket, endpoint_id, event_type, trigger)
);
CREATE TABLE source_cursor (
	source VARCHAR NOT NULL,
	state TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (source)
);
