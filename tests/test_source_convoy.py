"""`ingest convoy+postgresql://...`: a Convoy server's tables (built here from the facts of its schema) read
into both stores and compared with counts computed from those tables; payloads as Convoy sends them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from console.endpoints import load_endpoints
from console.sources.records import go_compact
from tests.convoy_server import NO_HOST, REFUSED, TIMED_OUT, ConvoyTables
from tests.helpers import run
from tests.source_tables import Final, assert_stats_match, dispatcher_schema, ingest_json, source_url

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
PROJECTS = {"proj_shop": ("org_1", "shop", ("ep_pay", "ep_crm")), "proj_ops": ("org_1", "ops", ("ep_pager",))}


def populate(tables: ConvoyTables, events: int, seed: int = 5, start: datetime = T0) -> None:
    rng = random.Random(seed)
    for i in range(events):
        project = list(PROJECTS)[i % 2]
        at = start + timedelta(seconds=41 * i)
        body = (
            f'{{ "event": "reward.redeemed",\n  "user_id": "user_{i}", "amount": {i},  "memo": "<b>&</b>" }}'
        )
        event_id = tables.event(project, at, body.encode(), deleted=i % 13 == 12)
        for endpoint in PROJECTS[project][2]:
            delivery = tables.delivery(event_id, project, endpoint, at)
            failures = rng.choice((0, 0, 1, 2))
            delivered = rng.random() < 0.85
            for n in range(failures + delivered):
                when = at + timedelta(seconds=30 * n, milliseconds=rng.randint(0, 500))
                deleted = i % 9 == 4 and n == 0
                if n < failures:
                    if rng.random() < 0.5:
                        tables.attempt(
                            delivery,
                            project,
                            endpoint,
                            when,
                            rng.choice((500, 503)),
                            latency_ms=rng.randint(30, 800),
                            deleted=deleted,
                        )
                    else:
                        tables.attempt(
                            delivery,
                            project,
                            endpoint,
                            when,
                            None,
                            error=rng.choice((REFUSED, TIMED_OUT, NO_HOST)),
                            latency_ms=rng.randint(1, 20_000),
                            deleted=deleted,
                        )
                else:
                    tables.attempt(
                        delivery,
                        project,
                        endpoint,
                        when,
                        rng.choice((200, 201)),
                        latency_ms=rng.randint(10, 300),
                        deleted=deleted,
                    )


def finals(conn: Any, project: str | None = None) -> list[Final]:
    """Attempts not soft-deleted (nor their delivery or event), numbered by (created_at, id) within their
    event at their endpoint, deleted rows included in the order."""
    rows = (
        conn.execute(
            "SELECT a.id, d.event_id, a.endpoint_id, CASE WHEN a.status THEN a.http_status END, "
            "extract(epoch FROM a.responded_at - a.requested_at) * 1000, a.project_id, "
            "a.deleted_at IS NULL AND d.deleted_at IS NULL AND e.deleted_at IS NULL "
            "FROM delivery_attempts a JOIN event_deliveries d ON d.id = a.event_delivery_id "
            "JOIN events e ON e.id = d.event_id ORDER BY a.created_at, a.id"
        )
        if False
        else conn.execute(
            "SELECT a.id, d.event_id, a.endpoint_id, CASE WHEN a.status OR a.http_status NOT LIKE '2%%' "
            "THEN a.http_status END, extract(epoch FROM a.responded_at - a.requested_at) * 1000, a.project_id, "
            "a.deleted_at IS NULL AND d.deleted_at IS NULL AND e.deleted_at IS NULL "
            "FROM delivery_attempts a JOIN event_deliveries d ON d.id = a.event_delivery_id "
            "JOIN events e ON e.id = d.event_id ORDER BY a.created_at, a.id"
        ).fetchall()
    )
    seen: dict[tuple[str, str], int] = {}
    out = []
    for _id, event_id, endpoint, http_status, latency, proj, alive in rows:
        pair = (event_id, endpoint)
        seen[pair] = seen.get(pair, 0) + 1
        if alive and (project is None or proj == project):
            code = int(http_status.split()[0]) if http_status else None
            out.append(
                Final(event_id, endpoint, seen[pair], code, None if latency is None else float(latency))
            )
    return out


@pytest.fixture
def convoy() -> Any:
    with dispatcher_schema("convoy") as (conn, schema):
        yield ConvoyTables(conn, PROJECTS), schema


def test_incremental_reads_match_the_tables(store_url: str, convoy: Any) -> None:
    tables, schema = convoy
    populate(tables, 50)
    url = source_url("convoy", schema)
    first = ingest_json(store_url, url)
    assert (first["rejected"], first["duplicates"]) == (0, 0)
    assert first["accepted"] == len(finals(tables.conn))
    assert_stats_match(store_url, finals(tables.conn))
    again = ingest_json(store_url, url)
    assert (again["accepted"], again["duplicates"], again["lines"]) == (0, 0, 0)
    # A later retry of an old delivery, and new events.
    delivery, project, endpoint = tables.conn.execute(
        "SELECT id, project_id, endpoint_id FROM event_deliveries ORDER BY id LIMIT 1"
    ).fetchone()
    tables.attempt(delivery, project, endpoint, T0 + timedelta(hours=1), 200, latency_ms=77)
    populate(tables, 6, seed=8, start=T0 + timedelta(hours=2))
    later = ingest_json(store_url, url)
    assert later["duplicates"] == 0 and later["accepted"] > 1
    stats = assert_stats_match(store_url, finals(tables.conn))
    assert {e["id"] for e in stats["endpoints"]} == {"ep_pay", "ep_crm", "ep_pager"}


def test_one_project_by_name(store_url: str, convoy: Any) -> None:
    tables, schema = convoy
    populate(tables, 20)
    result = ingest_json(store_url, source_url("convoy", schema, project="ops"))
    expected = finals(tables.conn, "proj_ops")
    assert result["accepted"] == len(expected) > 0
    assert_stats_match(store_url, expected)


def test_payload_status_text_and_errors(sqlite_store: Any, convoy: Any) -> None:
    tables, schema = convoy
    body = (
        b'{\n  "event": "reward.redeemed",\n  "memo": "<a href=\\"x\\">&amp;</a> \\u003c",\n  "n": [1, 2]\n}'
    )
    event_id = tables.event("proj_shop", T0, body)
    delivery = tables.delivery(event_id, "proj_shop", "ep_pay", T0)
    tables.attempt(delivery, "proj_shop", "ep_pay", T0, 503, latency_ms=250)
    tables.attempt(
        delivery, "proj_shop", "ep_pay", T0 + timedelta(seconds=5), None, error=TIMED_OUT, latency_ms=3_000
    )
    tables.attempt(
        delivery, "proj_shop", "ep_pay", T0 + timedelta(seconds=9), 200, latency_ms=12, deleted=True
    )
    tables.attempt(delivery, "proj_shop", "ep_pay", T0 + timedelta(seconds=20), 201, latency_ms=30)
    assert ingest_json(sqlite_store.url, source_url("convoy", schema))["accepted"] == 3
    with sqlite_store.read() as conn:
        payload = conn.exec_driver_sql("SELECT payload FROM event").scalar_one()
        attempts = conn.exec_driver_sql(
            "SELECT attempt, outcome, status_code, error, latency_ms FROM delivery_attempt ORDER BY attempt"
        ).fetchall()
    # Go's json.Compact: whitespace outside strings goes, everything else (escapes, HTML) stays as written.
    assert payload == b'{"event":"reward.redeemed","memo":"<a href=\\"x\\">&amp;</a> \\u003c","n":[1,2]}'
    assert attempts == [
        (1, "http_error", 503, None, 250.0),
        (2, "timeout", None, 'Post "https://ep_pay.example.com/hook": context deadline exceeded', None),
        (4, "success", 201, None, 30.0),  # the soft-deleted third attempt keeps its place in the order
    ]


def test_go_compact_keeps_strings_byte_for_byte() -> None:
    assert go_compact(b' { "a" : "x  y\\" z" ,\t"b":[ 1 ,2 ]}\n') == b'{"a":"x  y\\" z","b":[1,2]}'
    assert go_compact(b'"\\\\" ') == b'"\\\\"'


def test_missing_table_names_the_expected_shape(sqlite_store: Any, convoy: Any) -> None:
    tables, schema = convoy
    tables.conn.execute("DROP TABLE delivery_attempts")
    result = run("--db", sqlite_store.url, "ingest", source_url("convoy", schema))
    assert result.exit_code == 1
    assert f"table {schema}.delivery_attempts not found; expected a Convoy server database" in result.stderr


def test_endpoints_import_uses_the_convoy_scheme(tmp_path: Any, convoy: Any) -> None:
    tables, schema = convoy
    tables.conn.execute(
        "UPDATE endpoints SET secrets = %s WHERE id = 'ep_pay'",
        (orjson.dumps([{"value": "top-secret-value"}, {"value": "next-secret-value"}]).decode(),),
    )
    tables.conn.execute("UPDATE endpoints SET deleted_at = now() WHERE id = 'ep_pager'")
    out = tmp_path / "endpoints.toml"
    result = run("endpoints", "import", source_url("convoy", schema), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    config = load_endpoints(out)
    assert [(e.id, e.scheme.value, e.secret_refs) for e in config.endpoints] == [
        ("ep_crm", "convoy", ("env:EP_CRM_SECRET",)),
        ("ep_pay", "convoy", ("env:EP_PAY_SECRET", "env:EP_PAY_SECRET_2")),
    ]
    text = out.read_text() + result.stdout + result.stderr
    assert "top-secret-value" not in text and "next-secret-value" not in text
