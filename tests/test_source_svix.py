"""`ingest svix+postgresql://...`: a Svix server's tables (built here from the facts of its schema) read into
both stores, incrementally, and compared with counts computed straight from those tables."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import event

from console.endpoints import load_endpoints
from console.sources.service import open_reader
from console.sources.url import parse_source_url
from console.store import open_store
from console.store.cursors import load_cursor
from tests.helpers import ROOT, run, table_count, wait_until
from tests.source_tables import Final, assert_stats_match, dispatcher_schema, ingest_json, source_url
from tests.svix_server import CONNECT_FAILED, MANUAL, TIMED_OUT, SvixTables

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
APPS = {
    "app_shop": ("org_1", "shop", ("ep_pay", "ep_crm")),
    "app_ledger": ("org_1", "ledger", ("ep_books",)),
}


def body_of(i: int, msg_hint: str) -> bytes:
    """A payload as a sender wrote it: spacing and key order are part of the bytes."""
    return (
        f'{{"event": "reward.redeemed",  "reward_id":"reward_{i}", "user_id": "user_{i % 7}", '
        f'"amount": {100 + i}, "currency": "INR", "note": "<b>{msg_hint}</b>"}}'
    ).encode()


def populate(tables: SvixTables, messages: int, seed: int = 3, start: datetime = T0) -> None:
    """Messages for both applications as the worker writes them: a first attempt numbered 0, retries,
    timeouts and connect errors with Svix's own texts, manual resends (-1), legacy messages."""
    rng = random.Random(seed)
    for i in range(messages):
        app_id = list(APPS)[i % 2]
        at = start + timedelta(seconds=37 * i)
        msg_id = tables.message(app_id, at, body_of(i, "x"), legacy=i % 3 == 1)
        for endpoint in APPS[app_id][2]:
            failures = rng.choice((0, 0, 1, 2, 3))
            delivered = rng.random() < 0.8
            for n in range(failures + (1 if delivered else 0)):
                when = at + timedelta(seconds=60 * n, milliseconds=rng.randint(1, 900))
                if n < failures:
                    if rng.random() < 0.5:
                        code, text = rng.choice(((503, "Service Unavailable"), (500, "oops"), (404, "no")))
                        tables.attempt(msg_id, endpoint, when, code, text, rng.randint(50, 900), n)
                    elif rng.random() < 0.5:
                        tables.attempt(msg_id, endpoint, when, 0, TIMED_OUT, 30_000, n)
                    else:
                        tables.attempt(msg_id, endpoint, when, 0, CONNECT_FAILED, rng.randint(1, 20), n)
                else:
                    tables.attempt(msg_id, endpoint, when, 200, '{"ok":true}', rng.randint(20, 400), n)
            if i % 7 == 3:
                when = at + timedelta(minutes=30)
                tables.attempt(
                    msg_id, endpoint, when, 202, "accepted", rng.randint(20, 400), -1, trigger=MANUAL
                )


def finals(conn: Any, app_id: str | None = None) -> list[Final]:
    """The attempts in the tables, numbered independently of the reader: scheduled ones attempt_number + 1
    (by order for -1), manual ones after the scheduled attempts made before them; latency the duration
    column, or ended_at - created_at where it is 0 or absent."""
    columns = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'messageattempt' "
            "AND table_schema = current_schema()"
        ).fetchall()
    }
    number = "a.attempt_number" if "attempt_number" in columns else "-1"
    duration = "a.response_duration_ms" if "response_duration_ms" in columns else "0"
    rows = conn.execute(
        f"SELECT a.msg_id, a.endp_id, a.response_status_code, {duration}, "
        "extract(epoch FROM a.ended_at - a.created_at) * 1000, a.trigger_type, "
        f"{number}, m.app_id FROM messageattempt a JOIN message m ON m.id = a.msg_id ORDER BY a.id"
    ).fetchall()
    scheduled: dict[tuple[str, str], int] = {}
    manual: dict[tuple[str, str], int] = {}
    out = []
    for msg, endp, code, duration_ms, measured, trigger, svix_number, app in rows:
        pair = (msg, endp)
        if trigger == 0:
            scheduled[pair] = max(scheduled.get(pair, 0) + 1, svix_number + 1)
            n = svix_number + 1 if svix_number >= 0 else scheduled[pair]
        else:
            manual[pair] = manual.get(pair, 0) + 1
            n = scheduled.get(pair, 0) + manual[pair]
        latency = float(duration_ms) if duration_ms else float(measured)
        if app_id is None or app == app_id:
            out.append(Final(msg, endp, n, code or None, latency))
    return out


@pytest.fixture
def svix() -> Any:
    with dispatcher_schema("svix") as (conn, schema):
        yield SvixTables(conn, APPS), schema


def test_incremental_reads_match_the_tables(store_url: str, svix: Any) -> None:
    tables, schema = svix
    populate(tables, 60)
    url = source_url("svix", schema)
    first = ingest_json(store_url, url)
    assert first["rejected"] == 0 and first["duplicates"] == 0
    assert first["accepted"] == len(finals(tables.conn))
    assert_stats_match(store_url, finals(tables.conn))

    again = ingest_json(store_url, url)
    assert (again["accepted"], again["duplicates"], again["lines"]) == (0, 0, 0)

    # New traffic: more messages, and a manual retry of an old one.
    populate(tables, 8, seed=9, start=T0 + timedelta(hours=2))
    old = tables.conn.execute("SELECT id FROM message ORDER BY id LIMIT 1").fetchone()[0]
    tables.attempt(old, "ep_pay", T0 + timedelta(hours=3), 200, "ok", 33, -1, trigger=MANUAL)
    later = ingest_json(store_url, url)
    assert later["duplicates"] == 0 and later["accepted"] > 0
    stats = assert_stats_match(store_url, finals(tables.conn))
    assert {e["id"] for e in stats["endpoints"]} == {"ep_pay", "ep_crm", "ep_books"}


def test_payload_bytes_trigger_and_errors_are_kept(sqlite_store: Any, svix: Any) -> None:
    tables, schema = svix
    new = tables.message("app_shop", T0, b'{"event":  "reward.redeemed", "html": "<a&b>"}', legacy=False)
    old = tables.message("app_shop", T0, b'{"b": 1, "a": [1, 2]}', legacy=True)
    tables.attempt(new, "ep_pay", T0, 0, CONNECT_FAILED, 3, 0)
    tables.attempt(new, "ep_pay", T0 + timedelta(seconds=5), 0, TIMED_OUT, 30_000, 1)
    tables.attempt(new, "ep_pay", T0 + timedelta(minutes=1), 200, "ok", 41, 2)
    tables.attempt(new, "ep_pay", T0 + timedelta(minutes=5), 200, "again", 12, -1, trigger=MANUAL)
    tables.attempt(old, "ep_crm", T0, 503, "busy", 700, 0)
    assert ingest_json(sqlite_store.url, source_url("svix", schema))["accepted"] == 5
    with sqlite_store.read() as conn:
        payloads = dict(conn.exec_driver_sql("SELECT event_id, payload FROM event").fetchall())
        attempts = conn.exec_driver_sql(
            "SELECT event_id, attempt, trigger, outcome, status_code, error, latency_ms FROM delivery_attempt "
            "ORDER BY event_id, attempt"
        ).fetchall()
    assert payloads[new] == b'{"event":  "reward.redeemed", "html": "<a&b>"}'  # as sent, byte for byte
    assert orjson.loads(payloads[old]) == {"b": 1, "a": [1, 2]} and b" " not in payloads[old]
    assert attempts == [
        (new, 1, "scheduled", "network_error", None, CONNECT_FAILED, 3.0),
        (new, 2, "scheduled", "timeout", None, TIMED_OUT, 30000.0),
        (new, 3, "scheduled", "success", 200, None, 41.0),
        (new, 4, "manual", "success", 200, None, 12.0),  # after the highest scheduled attempt, like a replay
        (old, 1, "scheduled", "http_error", 503, None, 700.0),
    ]


def test_one_application_by_uid_and_since(store_url: str, svix: Any) -> None:
    tables, schema = svix
    populate(tables, 30)
    result = ingest_json(store_url, source_url("svix", schema, app="ledger"))
    expected = finals(tables.conn, "app_ledger")
    assert result["accepted"] == len(expected)
    assert_stats_match(store_url, expected)


def test_since_reads_from_a_time(sqlite_store: Any, svix: Any) -> None:
    tables, schema = svix
    populate(tables, 30)
    cut = T0 + timedelta(minutes=10)
    stamp = cut.isoformat().replace("+00:00", "Z")
    summary = ingest_json(sqlite_store.url, source_url("svix", schema), extra=("--since", stamp))
    count = tables.conn.execute(
        "SELECT count(*) FROM messageattempt WHERE status IN (0, 2) AND created_at >= %s", (cut,)
    ).fetchone()[0]
    assert 0 < summary["accepted"] == count < len(finals(tables.conn))
    # Backfilling from earlier adds what is older; what is stored already counts as duplicates.
    earlier = ingest_json(
        sqlite_store.url, source_url("svix", schema), extra=("--since", "2026-11-20T00:00:00Z")
    )
    assert (earlier["accepted"], earlier["duplicates"]) == (len(finals(tables.conn)) - count, count)
    assert_stats_match(sqlite_store.url, finals(tables.conn))


def test_cursor_is_kept_per_source_without_password(sqlite_store: Any, svix: Any) -> None:
    tables, schema = svix
    populate(tables, 5)
    url = source_url("svix", schema).replace("postgres@", "postgres:not-the-password@")
    result = run("--db", sqlite_store.url, "ingest", url, "--json")
    assert result.exit_code == 0, result.stderr  # trust auth: the password is not needed, and never kept
    key = parse_source_url(url).key
    assert "not-the-password" not in key and key.startswith("svix+postgresql://postgres@")
    state = load_cursor(sqlite_store, key)
    assert state is not None and state["after"] and state["open"] == []
    with sqlite_store.read() as conn:
        saved = conn.exec_driver_sql("SELECT source, state FROM source_cursor").fetchall()
    assert "not-the-password" not in repr(saved)


def test_clear_errors(sqlite_store: Any, svix: Any) -> None:
    tables, schema = svix
    db = sqlite_store.url
    cases = [
        ("svix+postgresql://postgres@127.0.0.1:5432", "no database name"),
        (source_url("svix", schema, project="x"), "unknown option project="),
        (
            "svix+postgresql://postgres:hunter2secret@127.0.0.1:1/test",
            "cannot connect to svix+postgresql://postgres@127.0.0.1:1/test",
        ),
        (
            source_url("svix", schema + "_nope"),
            f"table {schema}_nope.message not found; expected a Svix server database",
        ),
        (source_url("svix", schema, app="nobody"), "no Svix application with id or uid 'nobody'"),
    ]
    for url, message in cases:
        result = run("--db", db, "ingest", url)
        assert result.exit_code == 1, url
        assert message in result.stderr, (url, result.stderr)
        assert "hunter2secret" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    tables.conn.execute("DROP TABLE messageattempt")
    result = run("--db", db, "ingest", source_url("svix", schema))
    assert f"table {schema}.messageattempt not found" in result.stderr


def test_no_permission_is_named(sqlite_store: Any, svix: Any) -> None:
    tables, schema = svix
    role = f"{schema}_reader"
    tables.conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        tables.conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        tables.conn.execute(f"GRANT SELECT ON message TO {role}")
        url = source_url("svix", schema).replace("postgres@", f"{role}@")
        result = run("--db", sqlite_store.url, "ingest", url)
        assert result.exit_code == 1
        assert f"no permission to read {schema}.messageattempt" in result.stderr
        # docs/sources.md: ingest needs SELECT on messageattempt and message (messagecontent for the payloads
        # of newer messages); application only with app= or org=; endpoint only for endpoints import.
        tables.conn.execute(f"GRANT SELECT ON messageattempt, messagecontent TO {role}")
        populate(tables, 3)
        read = run("--db", sqlite_store.url, "ingest", url, "--json")
        assert read.exit_code == 0, read.stderr
        assert orjson.loads(read.stdout)["accepted"] == len(finals(tables.conn))
        scoped = run(
            "--db",
            sqlite_store.url,
            "ingest",
            source_url("svix", schema, app="shop").replace("postgres@", f"{role}@"),
        )
        assert scoped.exit_code == 1 and f"no permission to read {schema}.application" in scoped.stderr
        tables.conn.execute(f"GRANT SELECT ON application TO {role}")
        scoped = run(
            "--db",
            sqlite_store.url,
            "ingest",
            source_url("svix", schema, app="shop").replace("postgres@", f"{role}@"),
        )
        assert scoped.exit_code == 0, scoped.stderr
    finally:
        tables.conn.execute(f"DROP OWNED BY {role}")
        tables.conn.execute(f"DROP ROLE {role}")


def _process(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "console", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_follow_sees_a_row_inserted_after_it_started(sqlite_store: Any, svix: Any) -> None:
    tables, schema = svix
    populate(tables, 4)
    before = len(finals(tables.conn))
    follower = _process(
        "--db", sqlite_store.url, "ingest", "--follow", "--every", "200ms", source_url("svix", schema)
    )
    try:
        wait_until(lambda: table_count(sqlite_store, "delivery_attempt") == before, timeout=30.0)
        msg = tables.message("app_shop", datetime.now(UTC), b'{"late": true}', legacy=False)
        tables.attempt(msg, "ep_pay", datetime.now(UTC), 200, "ok", 10, 0)
        wait_until(lambda: table_count(sqlite_store, "delivery_attempt") == before + 1, timeout=30.0)
    finally:
        follower.send_signal(signal.SIGTERM)
        _out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    assert_stats_match(sqlite_store.url, finals(tables.conn))


def test_a_killed_read_resumes_exactly(store_url: str, svix: Any) -> None:
    tables, schema = svix
    populate(tables, 400)
    url = source_url("svix", schema)
    total = len(finals(tables.conn))
    reader = _process("--db", store_url, "ingest", url, "--batch-size", "50", "--json")
    store = open_store(store_url)
    try:
        wait_until(lambda: table_count(store, "delivery_attempt") >= 100, timeout=30.0)
        reader.kill()
        reader.wait(timeout=30)
        stored = table_count(store, "delivery_attempt")
    finally:
        store.close()
    assert 0 < stored < total, "the kill should land mid-read"
    rest = ingest_json(store_url, url)
    assert rest["duplicates"] == 0 and rest["accepted"] == total - stored
    assert_stats_match(store_url, finals(tables.conn))


def test_each_batch_moves_the_cursor_once(store: Any, svix: Any) -> None:
    """The cursor is written in each batch's transaction and not saved again after the last one: no two
    consecutive cursor writes hold the same state, and the last one is the cursor kept."""
    tables, schema = svix
    populate(tables, 120)
    written: list[dict[str, Any]] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _cursor_writes(_conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: bool) -> None:
        if sql.startswith("INSERT INTO source_cursor"):
            written.append(orjson.loads(params[1]))

    reader = open_reader(store, source_url("svix", schema), batch_size=25)
    try:
        reader.read()
    finally:
        reader.close()
    assert reader.summary.accepted == len(finals(tables.conn)) > 4 * 25
    assert len(written) >= 5
    assert all(a != b for a, b in itertools.pairwise(written)), "a cursor state saved twice"
    assert written[-1] == load_cursor(store, parse_source_url(source_url("svix", schema)).key)


def test_endpoints_import_writes_a_skeleton_without_secrets(tmp_path: Any, svix: Any) -> None:
    tables, schema = svix
    tables.conn.execute("UPDATE endpoint SET disabled = true WHERE id = 'ep_books'")
    out = tmp_path / "endpoints.toml"
    result = run("endpoints", "import", source_url("svix", schema, app="shop"), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    config = load_endpoints(out)
    assert [(e.id, e.url, e.scheme.value, e.secret_refs, e.name) for e in config.endpoints] == [
        ("ep_crm", "https://ep_crm.example.com/hooks", "standard", ("env:EP_CRM_SECRET",), "crm"),
        ("ep_pay", "https://ep_pay.example.com/hooks", "standard", ("env:EP_PAY_SECRET",), "pay"),
    ]
    assert "secret-key-bytes" not in out.read_text() + result.stdout + result.stderr
    everything = run("endpoints", "import", source_url("svix", schema))
    assert "enabled = false" in everything.stdout and everything.stdout.count("[[endpoint]]") == 3
    again = run("endpoints", "import", source_url("svix", schema), "--out", str(out))
    assert again.exit_code == 1 and "exists already" in again.stderr


def test_tui_follow_keeps_the_source_flowing_while_the_console_runs(
    sqlite_store: Any, svix: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command starts the follower before the console runs and stops it when it quits; the console
    (here a stand-in that watches the store as the dashboard does) only sees attempts arrive."""
    tables, schema = svix
    populate(tables, 3)
    before = len(finals(tables.conn))
    seen: list[int] = []

    class Console:
        def run(self) -> None:
            wait_until(lambda: table_count(sqlite_store, "delivery_attempt") == before, timeout=30.0)
            msg = tables.message("app_shop", datetime.now(UTC), b'{"live": 1}', legacy=False)
            tables.attempt(msg, "ep_pay", datetime.now(UTC), 200, "ok", 5, 0)
            wait_until(lambda: table_count(sqlite_store, "delivery_attempt") == before + 1, timeout=30.0)
            seen.append(table_count(sqlite_store, "delivery_attempt"))

    import console.tui.app

    monkeypatch.setattr(console.tui.app, "make_app", lambda *args, **kwargs: Console())
    result = run("--db", sqlite_store.url, "tui", "--follow", source_url("svix", schema), "--every", "100ms")
    assert result.exit_code == 0, result.stderr
    assert seen == [before + 1] and result.stderr == ""
    bad = run("--db", sqlite_store.url, "tui", "--follow", "svix+postgresql://postgres@127.0.0.1:5432")
    assert bad.exit_code == 1 and "no database name" in bad.stderr


def test_reads_run_in_read_only_transactions_with_a_timeout(svix: Any) -> None:
    import psycopg

    from console.ingest.log_files import SourceError
    from console.sources.database import connect, read_transaction

    _tables, schema = svix
    url = parse_source_url(source_url("svix", schema))
    conn = connect(url)
    try:
        with pytest.raises(SourceError, match="read-only transaction"), read_transaction(url, conn):
            assert conn.execute("SHOW transaction_read_only").fetchone()[0] == "on"
            assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"
            assert conn.execute("SHOW max_parallel_workers_per_gather").fetchone()[0] == "0"
            conn.execute(f"CREATE TABLE {schema}.written (x int)")
    finally:
        conn.close()
    with psycopg.connect(url.conninfo) as check:
        row = check.execute("SELECT to_regclass(%s)", (f"{schema}.written",)).fetchone()
        assert row is not None and row[0] is None


def test_recent_rows_are_stored_at_once_and_late_commits_are_not_missed(sqlite_store: Any, svix: Any) -> None:
    """Rows younger than the settle window are stored and listed (not passed by the cursor), so a row that
    commits late with a lower id is still read, and nothing is read twice."""
    tables, schema = svix
    url = source_url("svix", schema)
    populate(tables, 3)
    now = datetime.now(UTC)
    msg = tables.message("app_shop", now, b'{"n": 1}', legacy=False)
    recent = tables.attempt(msg, "ep_pay", now, 200, "ok", 8, 0)
    first = ingest_json(sqlite_store.url, url)
    assert first["accepted"] == len(finals(tables.conn))
    state = load_cursor(sqlite_store, parse_source_url(url).key)
    assert state is not None and state["beyond"] == [recent] and state["after"] < recent
    late = tables.attempt(msg, "ep_crm", now - timedelta(seconds=20), 0, TIMED_OUT, 20_000, 0)
    assert late < recent
    second = ingest_json(sqlite_store.url, url)
    assert (second["accepted"], second["duplicates"]) == (1, 0)
    assert (
        ingest_json(sqlite_store.url, url)["accepted"],
        ingest_json(sqlite_store.url, url)["duplicates"],
    ) == (0, 0)
    assert_stats_match(sqlite_store.url, finals(tables.conn))


def test_a_row_breaking_a_rule_is_rejected_by_table_and_id(
    sqlite_store: Any, svix: Any, tmp_path: Any
) -> None:
    tables, schema = svix
    msg = tables.message("app_shop", T0, b'{"a": 1}', legacy=False)
    bad = tables.attempt(msg, "ep_pay", T0, 42, "odd", 10, 0)
    tables.attempt(msg, "ep_pay", T0 + timedelta(minutes=1), 200, "ok", 10, 1)
    rejects = tmp_path / "rejects.jsonl"
    result = run("--db", sqlite_store.url, "ingest", source_url("svix", schema), "--rejects", str(rejects))
    assert result.exit_code == 0, result.stderr
    assert "accepted 1, rejected 1" in result.stdout
    assert (
        f"messageattempt {bad}: status_code: must be an HTTP status 100-599 or null, got 42" in result.stderr
    )
    assert orjson.loads(rejects.read_bytes())["raw"] == bad
