"""Several dispatcher tenants in one store: each endpoint keeps the tenant it belongs to (endpoint.source), the
missing-delivery check compares an event only with its own tenant's endpoints (two apps once made 15,252
false missing deliveries), and `--source` picks one tenant in every filtering command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from console.domain.filters import DeliveryFilter
from console.store import open_store
from console.store.deliveries import all_deliveries
from tests.helpers import run
from tests.source_tables import dispatcher_schema, ingest_json, source_url
from tests.svix_server import SvixTables

pytestmark = pytest.mark.postgres
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
BIG = ("ep_a1", "ep_a2", "ep_a3", "ep_a4")


def test_two_svix_apps_in_one_store_are_checked_apart(tmp_path: Path) -> None:
    apps = {"app_big": ("org_1", "big", BIG), "app_small": ("org_1", "small", ("ep_b1",))}
    with dispatcher_schema("svix") as (conn, schema):
        tables = SvixTables(conn, apps)
        gap_event = ""
        for i in range(8):  # the big app: each message to its four endpoints, but one never reached ep_a4
            at = T0 + timedelta(minutes=i)
            msg = tables.message("app_big", at, b'{"data": {"reward_id": "r"}}')
            for endpoint in BIG[:3] if i == 5 else BIG:
                tables.attempt(msg, endpoint, at, 200, "ok", 10, 0)
            gap_event = msg if i == 5 else gap_event
        for i in range(6):  # the small app, the same event type in the same hour
            at = T0 + timedelta(minutes=i, seconds=30)
            tables.attempt(tables.message("app_small", at, b"{}"), "ep_b1", at, 200, "ok", 10, 0)
        store_url = f"sqlite:///{tmp_path / 'store.db'}"
        assert ingest_json(store_url, source_url("svix", schema))["accepted"] == 8 * 4 - 1 + 6

    stats = orjson.loads(run("--db", store_url, "stats", "--since", "3000d", "--json").stdout)
    assert stats["sources"] == [
        {"source": "svix:app_big", "endpoints": 4},
        {"source": "svix:app_small", "endpoints": 1},
    ]
    missing = stats["gaps"]["missing_deliveries"]
    assert missing["count"] == 1  # without tenants: also the small app's 6 events at each of ep_a1..a4 (24)
    assert [(d["event_id"], d["endpoint_id"]) for d in missing["deliveries"]] == [(gap_event, "ep_a4")]

    small = run("--db", store_url, "stats", "--since", "3000d", "--json", "--source", "svix:app_small")
    assert small.exit_code == 0, small.stderr
    figures = orjson.loads(small.stdout)
    assert [e["id"] for e in figures["endpoints"]] == ["ep_b1"] and figures["attempts"] == 6
    both = ["--source", "svix:app_big", "--endpoint", "ep_a2", "--endpoint", "ep_b1"]
    narrowed = orjson.loads(run("--db", store_url, "stats", "--since", "3000d", "--json", *both).stdout)
    assert [e["id"] for e in narrowed["endpoints"]] == ["ep_a2"]
    unknown = run("--db", store_url, "stats", "--source", "svix:app_nope")
    assert unknown.exit_code == 2
    assert (
        "'svix:app_nope': no stored endpoint belongs to it (stored sources: svix:app_big, svix:app_small)"
        in (unknown.stderr)
    )
    store = open_store(store_url)
    try:  # the console's search box takes a tenant's label
        found = all_deliveries(store, DeliveryFilter(search="svix:app_small"))
    finally:
        store.close()
    assert sorted({r.endpoint_id for r in found}) == ["ep_b1"] and len(found) == 6
