"""A Convoy response body is read only as far as its stored excerpt reaches: the excerpt is the one the whole
body gives, with a character or an invalid byte sequence cut at the end."""

from __future__ import annotations

from typing import Any

import pytest

from console.ingest.lines import RESPONSE_EXCERPT_BYTES
from tests.convoy_server import ConvoyTables
from tests.source_tables import dispatcher_schema, ingest_json, source_url
from tests.test_source_convoy import PROJECTS, T0

pytestmark = pytest.mark.postgres


@pytest.fixture
def convoy() -> Any:
    with dispatcher_schema("convoy") as (conn, schema):
        yield ConvoyTables(conn, PROJECTS), schema


N = RESPONSE_EXCERPT_BYTES
BODIES = [
    b"a" * (N - 3) + "\U0001f600".encode() + b"tail" * 500,  # a 4-byte character across the end
    b"\xff\xfe" + b"a" * (N - 7) + "\u20ac".encode() + b"b" * 900,  # replaced bytes move the end
    b"a" * (N - 1) + b"\xf0\x9f\x98" + b"c" * 10,  # an invalid sequence across the end
    b"short \xe2\x82",
]


def test_long_response_bodies_keep_the_excerpt_of_the_whole_body(
    sqlite_store: Any,
    convoy: Any,
) -> None:
    tables, schema = convoy
    event_id = tables.event("proj_shop", T0, b'{"n":1}')
    delivery = tables.delivery(event_id, "proj_shop", "ep_pay", T0)
    for n, body in enumerate(BODIES):
        attempt = tables.attempt(delivery, "proj_shop", "ep_pay", T0.replace(second=n), 503)
        tables.conn.execute("UPDATE delivery_attempts SET response_data = %s WHERE id = %s", (body, attempt))
    assert ingest_json(sqlite_store.url, source_url("convoy", schema))["accepted"] == len(BODIES)
    with sqlite_store.read() as conn:
        stored = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT response_excerpt FROM delivery_attempt ORDER BY attempt"
            ).fetchall()
        ]
    expected = [b.decode(errors="replace").encode()[:N].decode(errors="ignore") for b in BODIES]
    assert stored == expected
    assert stored[0] == "a" * (N - 3)
