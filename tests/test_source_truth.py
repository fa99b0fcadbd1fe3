"""The dispatcher readers against the servers' own behaviour: Svix's three eras of tables, its 0-based
attempt numbers and late-committed timeouts, tenants with the same names in two organisations, hostile rows,
business fields nested under `data.`, a store that fails under a read, and Convoy's partitioned attempts,
failed 2xx and duplicate ids. Tables from tests/svix_ddl.py and tests/convoy_ddl.py; rows as the servers'
code writes them (tests/svix_server.py, tests/convoy_server.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.domain.outcomes import ErrorKind, error_kind_of
from console.ingest.log_files import SourceError
from console.sources.service import open_reader
from console.sources.url import parse_source_url
from console.store.cursors import load_cursor
from tests.convoy_server import BAD_CERT, NO_HOST, REFUSED, RESET, ConvoyTables
from tests.convoy_server import TIMED_OUT as CONVOY_TIMED_OUT
from tests.helpers import run
from tests.sandbox import EndpointSpec, write_endpoints
from tests.source_tables import assert_stats_match, dispatcher_schema, ingest_json, source_url
from tests.svix_server import CONNECT_FAILED, SEND_FAILED, TIMED_OUT, SvixTables
from tests.test_source_svix import APPS, finals, populate

pytestmark = pytest.mark.postgres
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_error_texts_of_both_servers_have_their_kind() -> None:
    host = {"host": "pay.example.com"}
    assert error_kind_of(CONVOY_TIMED_OUT.format(**host)) is ErrorKind.TIMEOUT
    assert error_kind_of(REFUSED.format(**host)) is ErrorKind.CONNECTION_REFUSED
    assert error_kind_of(NO_HOST.format(**host)) is ErrorKind.DNS
    assert error_kind_of(RESET.format(**host)) is ErrorKind.CONNECTION_RESET
    assert error_kind_of(BAD_CERT.format(**host)) is ErrorKind.TLS
    assert error_kind_of('Post "https://x/hook": EOF') is ErrorKind.CONNECTION_RESET
    assert error_kind_of(TIMED_OUT) is ErrorKind.TIMEOUT
    assert (
        error_kind_of(CONNECT_FAILED) is ErrorKind.CONNECTION_REFUSED
    )  # refused, DNS or TLS: Svix says no more
    assert error_kind_of(SEND_FAILED) is ErrorKind.CONNECTION_RESET
    assert error_kind_of("error resolving name: no record found") is ErrorKind.DNS


@pytest.mark.parametrize("era", ["current", "before_number", "before_duration"])
def test_each_era_of_svix_tables_reads_exactly(tmp_path: Path, era: str) -> None:
    """Rows from before `attempt_number` (numbered by order) and before `response_duration_ms` (latency from
    ended_at - created_at) count as the tables say; p50 within 3%."""
    with dispatcher_schema("svix") as (conn, schema):
        tables = SvixTables(conn, APPS, era=era)
        populate(tables, 80)
        expected = finals(conn)
        store_url = f"sqlite:///{tmp_path / 'store.db'}"
        summary = ingest_json(store_url, source_url("svix", schema))
        assert (summary["accepted"], summary["rejected"], summary["duplicates"]) == (len(expected), 0, 0)
        stats = assert_stats_match(store_url, expected)
        first_tries = sum(1 for f in expected if f.number == 1)
        assert first_tries == stats["deliveries"]  # every delivery has its first attempt, none taken twice


def test_a_timeout_committed_after_later_rows_is_still_read(sqlite_store: Any) -> None:
    """Svix stamps a row with its start and commits it when the request ends: a 30 s timeout appears after
    rows with later ids were read. The read window (45 s) keeps the cursor behind it."""
    with dispatcher_schema("svix") as (conn, schema):
        tables = SvixTables(conn, APPS)
        url = source_url("svix", schema)
        now = datetime.now(UTC)
        msg = tables.message("app_shop", now - timedelta(seconds=40), b'{"reward_id": "r1"}')
        tables.attempt(msg, "ep_crm", now - timedelta(seconds=15), 200, "ok", 40, 0)
        assert ingest_json(sqlite_store.url, url)["accepted"] == 1
        late = tables.attempt(msg, "ep_pay", now - timedelta(seconds=31), 0, TIMED_OUT, 30_000, 0)
        second = ingest_json(sqlite_store.url, url)
        assert (second["accepted"], second["duplicates"]) == (1, 0)
        state = load_cursor(sqlite_store, parse_source_url(url).key)
        assert state is not None and late in state["beyond"]
        assert ingest_json(sqlite_store.url, url)["accepted"] == 0
        assert_stats_match(sqlite_store.url, finals(conn))
        # A window shorter than the dispatcher's timeout is the operator's choice: the URL says it.
        assert parse_source_url(url + "&window=2m").window_ms == 120_000
        assert parse_source_url(url + "&window=2m").key == parse_source_url(url).key
        bad = run("--db", sqlite_store.url, "ingest", url + "&window=soon")
        assert bad.exit_code == 1 and "window=: must be a duration" in bad.stderr and "'soon'" in bad.stderr


def test_same_application_uid_in_two_organisations(tmp_path: Path) -> None:
    apps = {
        "app_a": ("org_a", "shop", ("ep_a",)),
        "app_b": ("org_b", "shop", ("ep_b",)),
    }
    with dispatcher_schema("svix") as (conn, schema):
        tables = SvixTables(conn, apps)
        for app, endpoint in (("app_a", "ep_a"), ("app_b", "ep_b"), ("app_b", "ep_b")):
            msg = tables.message(app, T0, b"{}")
            tables.attempt(msg, endpoint, T0, 200, "ok", 10, 0)
        store_url = f"sqlite:///{tmp_path / 'store.db'}"
        refused = run("--db", store_url, "ingest", source_url("svix", schema, app="shop"))
        assert refused.exit_code == 1
        assert "'shop' names 2 Svix applications: app_a (organisation org_a), app_b (organisation org_b)" in (
            refused.stderr
        )
        assert "org=" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        chosen = ingest_json(store_url, source_url("svix", schema, app="shop", org="org_b"))
        assert chosen["accepted"] == 2
        stats = orjson.loads(run("--db", store_url, "stats", "--json").stdout)
        assert [e["id"] for e in stats["endpoints"]] == ["ep_b"]
        imported = run("endpoints", "import", source_url("svix", schema, org="org_a"))
        assert imported.exit_code == 0 and "ep_a" in imported.stdout and "ep_b" not in imported.stdout


def test_hostile_svix_rows_are_rejected_by_name_and_never_hold_the_cursor(
    sqlite_store: Any, tmp_path: Path
) -> None:
    with dispatcher_schema("svix") as (conn, schema):
        tables = SvixTables(conn, APPS)
        conn.execute("ALTER TABLE message ALTER COLUMN event_type DROP NOT NULL")
        conn.execute("ALTER TABLE messageattempt ALTER COLUMN created_at DROP NOT NULL")
        conn.execute("ALTER TABLE messageattempt ALTER COLUMN status DROP NOT NULL")
        good = tables.message("app_shop", T0, b'{"reward_id": "r1"}')
        tables.attempt(good, "ep_pay", T0, 503, "busy", 30, 0)
        no_type = tables.message("app_shop", T0, b"{}")
        conn.execute("UPDATE message SET event_type = NULL WHERE id = %s", (no_type,))
        bad = {
            "no type": tables.attempt(no_type, "ep_pay", T0, 200, "ok", 10, 0),
            "no time": tables.attempt(good, "ep_crm", T0, 200, "ok", 10, 0),
            "2999": tables.attempt(good, "ep_crm", T0 + timedelta(seconds=1), 200, "ok", 10, 1),
            "1900": tables.attempt(good, "ep_crm", T0 + timedelta(seconds=2), 200, "ok", 10, 2),
            "status null": tables.attempt(good, "ep_crm", T0 + timedelta(seconds=3), 200, "ok", 10, 3),
            "status 7": tables.attempt(good, "ep_crm", T0 + timedelta(seconds=4), 200, "ok", 10, 4),
            "no message": tables.attempt("msg_gone", "ep_crm", T0, 200, "ok", 10, 0),
        }
        conn.execute("UPDATE messageattempt SET created_at = NULL WHERE id = %s", (bad["no time"],))
        conn.execute("UPDATE messageattempt SET created_at = '2999-01-01' WHERE id = %s", (bad["2999"],))
        conn.execute("UPDATE messageattempt SET created_at = '1900-01-01' WHERE id = %s", (bad["1900"],))
        conn.execute("UPDATE messageattempt SET status = NULL WHERE id = %s", (bad["status null"],))
        conn.execute("UPDATE messageattempt SET status = 7 WHERE id = %s", (bad["status 7"],))
        legacy = tables.message("app_shop", T0, b'{"big": 1e400, "reward_id": "r2"}', legacy=True)
        tables.attempt(legacy, "ep_pay", T0 + timedelta(seconds=5), 200, "ok", 10, 0)
        later = [
            tables.attempt(good, "ep_pay", T0 + timedelta(minutes=n), 200, "ok", 10, n) for n in range(1, 4)
        ]
        rejects = tmp_path / "rejects.jsonl"
        url = source_url("svix", schema)
        result = run("--db", sqlite_store.url, "ingest", url, "--json", "--rejects", str(rejects))
        assert result.exit_code == 0, result.stderr
        summary = orjson.loads(result.stdout)
        assert (summary["lines"], summary["accepted"], summary["rejected"]) == (12, 5, 7)
        reasons = {
            orjson.loads(line)["raw"]: orjson.loads(line)["reason"]
            for line in rejects.read_text().splitlines()
        }
        assert set(reasons) == set(bad.values())
        assert "event_type" in reasons[bad["no type"]] and "missing" in reasons[bad["no time"]]
        assert "outside 1970-2100" in reasons[bad["2999"]] and "outside 1970-2100" in reasons[bad["1900"]]
        assert (
            "not a Svix attempt status" in reasons[bad["status 7"]] and "None" in reasons[bad["status null"]]
        )
        assert "message 'msg_gone' not found" in reasons[bad["no message"]]
        state = load_cursor(sqlite_store, parse_source_url(url).key)
        assert state is not None and state["after"] == max([*bad.values(), *later]) and state["beyond"] == []
        again = ingest_json(sqlite_store.url, url)
        assert (again["lines"], again["accepted"]) == (0, 0)
        with sqlite_store.read() as store_conn:
            payload = store_conn.exec_driver_sql(
                "SELECT payload FROM event WHERE event_id = %s".replace("%s", "?"), (legacy,)
            ).scalar_one()
        assert b"1e400" in payload.lower() or b"0000000000" in payload  # kept as the database holds it


def test_business_fields_nested_under_data_drive_the_replay_preview(tmp_path: Path) -> None:
    """Svix users wrap their fields (`{"data": {...}}`): the preview counts users, rewards, amounts per event
    and superseded events as a hand count of the same rows."""
    with dispatcher_schema("svix") as (conn, schema):
        tables = SvixTables(conn, {"app_shop": ("org_1", "shop", ("ep_pay", "ep_crm"))})
        events = [
            # (reward, user, amount, minutes after T0, delivered to ep_pay)
            ("r1", "u1", 500, 0, False),
            ("r1", "u1", -500, 10, True),  # the reversal, delivered: supersedes the redemption
            ("r2", "u2", 250, 1, False),
            ("r3", "u2", 100, 2, False),
            ("r4", "u3", 75, 3, True),
        ]
        for reward, user, amount, minutes, delivered in events:
            at = T0 + timedelta(minutes=minutes)
            body = orjson.dumps(
                {
                    "type": "reward.redeemed",
                    "timestamp": at.isoformat().replace("+00:00", "Z"),
                    "data": {"reward_id": reward, "user_id": user, "amount": amount, "currency": "INR"},
                }
            )
            msg = tables.message("app_shop", at, body)
            for endpoint in ("ep_pay", "ep_crm"):
                tables.attempt(
                    msg, endpoint, at, 200 if delivered and endpoint == "ep_pay" else 503, "x", 20, 0
                )
        store_url = f"sqlite:///{tmp_path / 'store.db'}"
        ingest_json(store_url, source_url("svix", schema))
        config = write_endpoints(tmp_path, 9, [EndpointSpec("ep_pay"), EndpointSpec("ep_crm")])
        result = run(
            "--db",
            store_url,
            "--endpoints",
            str(config),
            "replay",
            "--endpoint",
            "ep_pay",
            "--dry-run",
            "--json",
        )
        assert result.exit_code == 0, result.stderr
        impact = orjson.loads(result.stdout)["impact"]
        # undelivered at ep_pay: r1 (500, u1), r2 (250, u2), r3 (100, u2)
        assert (impact["users"], impact["rewards"]) == (2, 3)
        assert impact["amounts"] == {"INR": "850"}
        assert impact["superseded"] == 1
        assert impact["superseded_sample"][0]["newer_event_id"] != impact["superseded_sample"][0]["event_id"]


def test_a_store_locked_past_its_busy_timeout_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails (SQLite locked by another process for longer than the busy timeout) moves neither
    the cursor nor the events offered: the next read stores everything, once."""
    import console.store.engine

    monkeypatch.setattr(console.store.engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    from console.store import open_store

    with dispatcher_schema("svix") as (conn, schema):
        tables = SvixTables(conn, APPS)
        populate(tables, 20)
        store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        reader = open_reader(store, source_url("svix", schema), batch_size=10)
        try:
            locker = sqlite3.connect(tmp_path / "store.db", timeout=0)
            locker.execute("BEGIN EXCLUSIVE")
            with pytest.raises(Exception) as failed:
                reader.read()
            assert not isinstance(failed.value, SourceError) or "locked" in str(failed.value)
            locker.rollback()
            locker.close()
            reader.read()
            populate(tables, 5, seed=4, start=T0 + timedelta(hours=1))
            reader.read()
        finally:
            reader.close()
            store.close()
        assert reader.summary.rejected == 0
        assert_stats_match(f"sqlite:///{tmp_path / 'store.db'}", finals(conn))


CONVOY_PROJECTS = {
    "proj_a": ("org_a", "shop", ("ep_a",)),
    "proj_b": ("org_b", "shop", ("ep_b",)),
}


def _convoy_delivery(tables: ConvoyTables, project: str, endpoint: str, at: datetime) -> str:
    event = tables.event(project, at, b'{"data": {"reward_id": "r9", "amount": 5}}')
    return tables.delivery(event, project, endpoint, at)


def test_convoy_partitioned_tenants_failed_2xx_and_shared_ids(tmp_path: Path) -> None:
    with dispatcher_schema("convoy") as (conn, schema):
        tables = ConvoyTables(conn, CONVOY_PROJECTS, partitioned=True)
        conn.execute("UPDATE endpoints SET status = 'paused' WHERE id = 'ep_b'")
        first = _convoy_delivery(tables, "proj_a", "ep_a", T0)
        tables.attempt(first, "proj_a", "ep_a", T0, 200, succeeded=False)  # body read failed: Convoy retries
        tables.attempt(first, "proj_a", "ep_a", T0 + timedelta(seconds=10), None, error=CONVOY_TIMED_OUT)
        shared = tables.attempt(first, "proj_a", "ep_a", T0 + timedelta(days=1), 503)
        tables.attempt(first, "proj_a", "ep_a", T0 + timedelta(days=2), 200, attempt_id=shared)
        other = _convoy_delivery(tables, "proj_b", "ep_b", T0)
        tables.attempt(other, "proj_b", "ep_b", T0, 200)
        store_url = f"sqlite:///{tmp_path / 'store.db'}"
        refused = run("--db", store_url, "ingest", source_url("convoy", schema, project="shop"))
        assert refused.exit_code == 1 and "'shop' names 2 Convoy projects" in refused.stderr
        summary = ingest_json(store_url, source_url("convoy", schema, project="shop", org="org_a"))
        assert (summary["accepted"], summary["rejected"], summary["duplicates"]) == (4, 0, 0)
        with open_store_read(store_url) as store_conn:
            rows = store_conn.execute(
                "SELECT attempt, outcome, status_code, error FROM delivery_attempt ORDER BY attempt"
            ).fetchall()
            delivered = store_conn.execute("SELECT delivered_at IS NOT NULL FROM delivery").fetchall()
        assert [r[:3] for r in rows] == [
            (1, "network_error", None),
            (2, "timeout", None),
            (3, "http_error", 503),
            (4, "success", 200),
        ]
        assert rows[0][3].startswith("recorded as failed by the dispatcher after HTTP 200")
        assert delivered == [(1,)]
        # The read of one project plans only that project's partitions.
        from console.sources import dispatcher_for
        from console.sources.database import connect, read_transaction

        url = parse_source_url(source_url("convoy", schema, project="shop", org="org_a"))
        dispatcher = dispatcher_for(url)
        source = connect(url)
        try:
            with read_transaction(url, source):
                dispatcher.prepare(source)
                clauses = dispatcher.scope_where()
                plan = source.execute(
                    f"EXPLAIN {dispatcher.select} WHERE {' AND '.join(c for c, _ in clauses)}",
                    [v for _, v in clauses],
                ).fetchall()
        finally:
            source.close()
        text = "\n".join(r[0] for r in plan)
        assert "delivery_attempts_PROJ_A_" in text and "PROJ_B" not in text, text
        imported = run("endpoints", "import", source_url("convoy", schema))
        assert imported.exit_code == 0
        block = imported.stdout.split('id = "ep_b"')[1]
        assert "enabled = false" in block.split("[[endpoint]]")[0]


class open_store_read:
    """A plain sqlite3 connection to a store file, for reading what a test stored."""

    def __init__(self, url: str) -> None:
        self.conn = sqlite3.connect(url.removeprefix("sqlite:///"))

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *_: object) -> None:
        self.conn.close()


def test_the_console_follower_retries_a_failing_store_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tui --follow`'s follower meets a locked store: each failed pass is reported with its retry, and once
    the lock goes every attempt arrives, once."""
    import console.store.engine
    from console.sources.service import BackgroundFollow
    from console.store import open_store
    from tests.helpers import table_count, wait_until

    monkeypatch.setattr(console.store.engine, "SQLITE_BUSY_TIMEOUT_MS", 100)
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(store_url).close()
    with dispatcher_schema("svix") as (conn, schema):
        tables = SvixTables(conn, APPS)
        populate(tables, 15)
        locker = sqlite3.connect(tmp_path / "store.db", timeout=0)
        locker.execute("BEGIN EXCLUSIVE")
        follower = BackgroundFollow(store_url, [source_url("svix", schema)], every_s=0.05)
        follower.start()
        try:
            wait_until(lambda: len(follower.errors) > 0, timeout=30.0)
            locker.rollback()
            locker.close()
            store = open_store(store_url, read_only=True)  # a reader: no write lock to contend for
            try:
                wait_until(lambda: table_count(store, "delivery_attempt") == len(finals(conn)), timeout=30.0)
            finally:
                store.close()
        finally:
            errors = follower.stop()
        assert errors and "store: database is locked" in errors[0] and "\n" not in errors[0]
        assert "(retrying in" in errors[0]
        assert_stats_match(store_url, finals(conn))
