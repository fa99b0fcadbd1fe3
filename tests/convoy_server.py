"""Convoy-shaped rows written the way Convoy v26.7.3 writes them (worker/task/process_event_delivery.go,
net/dispatcher.go at commit 2b60cc65), into the tables of `tests/convoy_ddl.py`.

- ids are ULIDs (26 characters, the first 10 the creation time in ms, Crockford base32);
- an attempt row is inserted once, after the response or the transport error: `created_at` is then,
  `requested_at` the request's start, `responded_at` the response (NULL without one);
- `http_status` is Go's `resp.Status` ("503 Service Unavailable"), NULL without a response; `error` Go's
  error text, NULL when empty; `status` true only for a 2xx read in full.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from tests.convoy_ddl import DDL, DDL_BASE, DDL_PARTITIONED_ATTEMPTS, attempt_partition_ddl

STATUS_TEXT = {
    200: "200 OK",
    201: "201 Created",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}
# Go's net/http texts as Convoy stores them (client.Do's error, unwrapped).
TIMED_OUT = 'Post "https://{host}/hook": context deadline exceeded'
REFUSED = 'Post "https://{host}/hook": dial tcp 10.0.0.9:443: connect: connection refused'
NO_HOST = 'Post "https://{host}/hook": dial tcp: lookup {host} on 10.255.255.53:53: no such host'
RESET = 'Post "https://{host}/hook": read tcp 10.0.0.2:59284->10.0.0.9:443: read: connection reset by peer'
BAD_CERT = 'Post "https://{host}/hook": tls: failed to verify certificate: x509: certificate signed by unknown authority'
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(at: datetime, rng: random.Random) -> str:
    value = (int(at.timestamp() * 1000) << 80) | rng.getrandbits(80)
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


class ConvoyTables:
    """A Convoy server's tables; `projects` maps project id -> (organisation id, name, endpoint ids)."""

    def __init__(
        self, conn: Any, projects: Mapping[str, tuple[str, str, tuple[str, ...]]], partitioned: bool = False
    ) -> None:
        self.conn = conn
        self.rng = random.Random(11)
        conn.execute(DDL_BASE + DDL_PARTITIONED_ATTEMPTS if partitioned else DDL)
        self.partitioned = partitioned
        self.partitions: set[tuple[str, date]] = set()
        for org in sorted({org for org, _name, _eps in projects.values()}):
            conn.execute(
                "INSERT INTO organisations (id, name, owner_id) VALUES (%s, %s, 'user_1')", (org, org)
            )
        for project, (org, name, endpoints) in projects.items():
            conn.execute(
                "INSERT INTO project_configurations (id, max_payload_read_size, replay_attacks_prevention_enabled, "
                "ratelimit_count, ratelimit_duration, strategy_type, strategy_duration, strategy_retry_count, "
                "signature_header, signature_versions) VALUES (%s, 51200, false, 1000, 60, 'linear', 10, 5, "
                "'X-Convoy-Signature', %s)",
                (
                    f"cfg_{project}",
                    orjson.dumps([{"uid": "v1", "hash": "SHA256", "encoding": "hex"}]).decode(),
                ),
            )
            conn.execute(
                "INSERT INTO projects (id, name, type, organisation_id, project_configuration_id) "
                "VALUES (%s, %s, 'outgoing', %s, %s)",
                (project, name, org, f"cfg_{project}"),
            )
            for endpoint in endpoints:
                conn.execute(
                    "INSERT INTO endpoints (id, status, rate_limit, advanced_signatures, project_id, secrets, "
                    "http_timeout, rate_limit_duration, name, url) VALUES (%s, 'active', 5000, true, %s, %s, 30, 60, %s, %s)",
                    (
                        endpoint,
                        project,
                        orjson.dumps([{"uid": "s1", "value": "top-secret-value"}]).decode(),
                        endpoint[3:],
                        f"https://{endpoint}.example.com/convoy",
                    ),
                )

    def event(
        self,
        project: str,
        at: datetime,
        body: bytes,
        deleted: bool = False,
        event_type: str = "reward.redeemed",
    ) -> str:
        event_id = ulid(at, self.rng)
        self.conn.execute(
            "INSERT INTO events (id, event_type, project_id, raw, data, created_at, deleted_at) "
            "VALUES (%s, %s, %s, '', %s, %s, %s)",
            (event_id, event_type, project, body, at, at if deleted else None),
        )
        return event_id

    def delivery(self, event_id: str, project: str, endpoint: str, at: datetime) -> str:
        delivery_id = ulid(at, self.rng)
        self.conn.execute(
            "INSERT INTO event_deliveries (id, status, description, project_id, endpoint_id, event_id, "
            "subscription_id, metadata, created_at) VALUES (%s, 'Processing', '', %s, %s, %s, 'sub_1', %s, %s)",
            (delivery_id, project, endpoint, event_id, '{"num_trials": 0, "retry_limit": 5}', at),
        )
        return delivery_id

    def attempt(
        self,
        delivery_id: str,
        project: str,
        endpoint: str,
        at: datetime,
        code: int | None,
        error: str | None = None,
        latency_ms: int = 100,
        deleted: bool = False,
        succeeded: bool | None = None,
        attempt_id: str | None = None,
    ) -> str:
        """One attempt whose request started at `at` and ended `latency_ms` later; `code` None: no response
        (`error` the transport error, a `{host}` in it filled in)."""
        ended = at + timedelta(milliseconds=latency_ms)
        attempt_id = attempt_id or ulid(ended, self.rng)
        if self.partitioned and (project, ended.date()) not in self.partitions:
            self.conn.execute(attempt_partition_ddl(project, ended.date()))
            self.partitions.add((project, ended.date()))
        if succeeded is None:
            succeeded = code is not None and 200 <= code < 300 and not error
        self.conn.execute(
            "INSERT INTO delivery_attempts (id, url, method, api_version, project_id, endpoint_id, event_delivery_id, "
            "http_status, response_data, error, status, created_at, deleted_at, requested_at, responded_at) "
            "VALUES (%s, %s, 'POST', '2024-04-01', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                attempt_id,
                f"https://{endpoint}.example.com/convoy",
                project,
                endpoint,
                delivery_id,
                STATUS_TEXT.get(code, f"{code} Status") if code else None,
                b'{"ok":true}' if code else None,
                error.format(host=f"{endpoint}.example.com") if error else None,
                succeeded,
                ended,
                ended if deleted else None,
                at,
                ended if code else None,
            ),
        )
        return attempt_id
