"""`hookconsole watch` on the sources beyond its own log files: a Svix database polled live (built on the test
PostgreSQL), a database that fails and comes back, one that never answers, and a mapped log (`--map`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import HOME_GROWN_MAPPING, run
from tests.source_tables import dispatcher_schema, source_url
from tests.svix_server import FAIL, SUCCESS, SvixTables
from tests.test_source_svix import APPS
from tests.test_watch_live import QUIET_S, watching
from tests.watch_support import alerts_toml, append, free_port, receiving, traffic, wait_for

PASSWORD = "sekret-pw-4711"


def _with_password(url: str) -> str:
    """The source URL with a password in its userinfo (the test server trusts, so it is sent and ignored)."""
    head, rest = url.split("://", 1)
    userinfo, at, host = rest.partition("@")
    assert at and ":" not in userinfo, url
    return f"{head}://{userinfo}:{PASSWORD}@{host}"


def _attempts(tables: SvixTables, endpoint: str, count: int, status: int, code: int) -> None:
    """`count` new messages for the shop application, each with one final first attempt at `endpoint`, a few
    seconds ago (so inside every rule window), committed together."""
    with tables.conn.transaction():
        _insert(tables, endpoint, count, status, code)


def _insert(tables: SvixTables, endpoint: str, count: int, status: int, code: int) -> None:
    for _ in range(count):
        at = datetime.now(UTC) - timedelta(seconds=5)
        msg_id = tables.message("app_shop", at, b'{"ok": true}', legacy=False)
        response = "ok" if status == SUCCESS else "Service Unavailable"
        tables.attempt(msg_id, endpoint, at, code, response, 120, 0, status=status)


def _lags(port: int) -> dict[str, float]:
    """Seconds since each source was last wholly in the store (from its last-success timestamp)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        sample.labels["source"]: time.time() - sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "hookconsole_source_last_success_timestamp_seconds"
        for sample in family.samples
    }


def _db_lag(port: int) -> float:
    """The lag of the (one) database source among the followed sources."""
    (lag,) = [value for label, value in _lags(port).items() if label.startswith("svix+postgresql://")]
    return lag


def _stats(db: str) -> dict[str, Any]:
    result = run("--db", db, "stats", "--json")
    assert result.exit_code == 0, result.stderr
    return orjson.loads(result.stdout)


def _states(receiver: Any) -> list[tuple[str, str]]:
    return [(body["endpoint"], body["state"]) for body in receiver.bodies()]


@pytest.mark.postgres
def test_watch_follows_a_svix_database_fires_resolves_and_stops(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    port = free_port()
    with dispatcher_schema("wsvix") as (conn, schema), receiving() as receiver:
        tables = SvixTables(conn, APPS)
        _attempts(tables, "ep_crm", 6, SUCCESS, 200)  # already there when watch starts
        url = _with_password(source_url("svix", schema))
        (tmp_path / "alerts.toml").write_text(alerts_toml(receiver.url))
        args = (url, "--every-source", "200ms", "--metrics-port", str(port))
        with watching(tmp_path, db, *args) as process:
            time.sleep(QUIET_S)
            assert receiver.bodies() == [], "healthy traffic fires nothing"
            _attempts(tables, "ep_pay", 8, FAIL, 503)  # inserted after watch started
            assert wait_for(lambda: len(receiver.bodies()) >= 1), process.stderr
            lags = _lags(port)
            assert len(lags) == 1, lags
            ((label, lag),) = lags.items()
            assert label.startswith("svix+postgresql://") and f"schema={schema}" in label
            assert PASSWORD not in label and 0 <= lag < 5, (label, lag)
            _attempts(tables, "ep_pay", 20, SUCCESS, 200)  # the endpoint is back
            assert wait_for(lambda: len(receiver.bodies()) >= 2), process.stderr
            time.sleep(QUIET_S)
            stderr = process.stop()
        assert _states(receiver) == [("ep_pay", "firing"), ("ep_pay", "resolved")]
        firing = receiver.bodies()[0]
        assert firing["value"] == 0.0 and firing["undelivered"] == 8
        # --once reads the database once into a fresh store: nothing fires now, exit 0
        fresh = str(tmp_path / "once.db")
        once = run("--db", fresh, "watch", "--once", url, "--alerts", str(tmp_path / "alerts.toml"))
        assert once.exit_code == 0, once.stderr
        assert _stats(fresh)["attempts"] == 34 and PASSWORD not in once.stderr
    assert PASSWORD not in stderr
    stats = _stats(db)
    assert stats["attempts"] == 34 and stats["undelivered"] == 8


@pytest.mark.postgres
def test_a_failing_database_source_is_logged_retried_and_never_stops_the_rules(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"")
    port = free_port()
    with dispatcher_schema("wsvix") as (conn, schema), receiving() as receiver:
        url = source_url("svix", schema)  # the schema is empty: Svix's tables are not there (yet)
        (tmp_path / "alerts.toml").write_text(alerts_toml(receiver.url))
        args = (str(log), url, "--every-source", "200ms", "--metrics-port", str(port))
        with watching(tmp_path, db, *args) as process:
            assert wait_for(lambda: "not found" in process.stderr), process.stderr
            append(log, traffic("ep_file", 8, 503))  # the rules go on over the file source
            assert wait_for(lambda: _states(receiver) == [("ep_file", "firing")]), process.stderr
            time.sleep(QUIET_S)
            failures = [line for line in process.lines if "not found" in line]
            assert len(failures) == 1, failures  # once, not at every retry
            assert "(retrying)" in failures[0] and failures[0].count("\n") == 1
            lag = _db_lag(port)
            assert lag >= 1.5, lag  # no poll has succeeded since watch started
            tables = SvixTables(conn, APPS)  # the database comes up
            _attempts(tables, "ep_pay", 3, SUCCESS, 200)
            assert wait_for(lambda: "reading again" in process.stderr, timeout=40), process.stderr
            assert wait_for(lambda: _db_lag(port) < 5)
            assert wait_for(lambda: _stats(db)["attempts"] == 11)
            process.stop()


@contextmanager
def _silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word (a database that hangs)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        done.set()
        thread.join(timeout=2)
        for conn in accepted:
            conn.close()
        listener.close()


def test_sigterm_stops_watch_while_a_database_hangs(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    with _silent_server() as port:
        url = f"svix+postgresql://hook@127.0.0.1:{port}/svix"
        with watching(tmp_path, db, url, "--every-source", "200ms") as process:
            time.sleep(1.0)  # the poll is now waiting for the server's first word
            stderr = process.stop()  # within 5 s, exit 0 (asserted there)
    assert "still reading at stop" in stderr


def _mapped(endpoint: str, count: int, status: int) -> list[bytes]:
    """Home-grown log lines: `count` delivery attempts at `endpoint`, among lines that are not attempts."""
    lines = []
    for n in range(count):
        at = time.time() - 20
        event = f"evt_{endpoint}_{n}_{time.monotonic_ns()}"
        lines.append({"msg": "request served", "ts": at, "http": {"status": 200, "duration_s": 0.01}})
        lines.append(
            {
                "msg": "webhook.attempt",
                "ts": at,
                "webhook": {
                    "id": event,
                    "type": "order.paid",
                    "endpoint": endpoint,
                    "try": 1,
                    "body": {"order": n},
                },
                "http": {"status": status, "duration_s": 0.2},
                "error": None,
            }
        )
    return [orjson.dumps(line) + b"\n" for line in lines]


def test_watch_follows_a_mapped_log(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(HOME_GROWN_MAPPING)
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(_mapped("ep_mapped", 6, 200)))
    db = str(tmp_path / "store.db")
    with receiving() as receiver:
        (tmp_path / "alerts.toml").write_text(alerts_toml(receiver.url))
        with watching(tmp_path, db, "--map", str(mapping), str(log)) as process:
            append(log, _mapped("ep_down", 8, 503))
            assert wait_for(lambda: len(receiver.bodies()) >= 1), process.stderr
            bad = orjson.loads(_mapped("ep_down", 1, 503)[1])
            del bad["webhook"]["body"]  # an attempt breaking a rule: rejected, and said so on one line
            append(log, [orjson.dumps(bad) + b"\n"])
            assert wait_for(lambda: f"rejected {log}:29: payload" in process.stderr), process.stderr
            time.sleep(QUIET_S)
            process.stop()
        assert _states(receiver) == [("ep_down", "firing")]
        stats = _stats(db)
        assert stats["attempts"] == 14 and stats["undelivered"] == 8
        # --once reads the same mapped log (for cron): a rule fires, exit 3
        once = run(
            "--db",
            str(tmp_path / "once.db"),
            "watch",
            "--once",
            "--map",
            str(mapping),
            str(log),
            "--alerts",
            str(tmp_path / "alerts.toml"),
        )
        assert once.exit_code == 3, once.stderr
        assert _stats(str(tmp_path / "once.db"))["attempts"] == 14


def test_bad_sources_and_mappings_get_one_line_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    missing = run("--db", db, "watch", "--once", "--map", str(tmp_path / "nope.toml"), str(log))
    assert missing.exit_code == 1 and "--map" in missing.stderr and "nope.toml" in missing.stderr
    assert missing.stderr.strip().count("\n") == 0
    bad_url = run("--db", db, "watch", "--once", f"svix+postgresql://hook:{PASSWORD}@127.0.0.1:5432")
    assert bad_url.exit_code == 1 and "no database name" in bad_url.stderr
    assert PASSWORD not in bad_url.stderr
    too_fast = run("--db", db, "watch", "--every-source", "10ms", str(log))
    assert too_fast.exit_code == 2 and "--every-source" in too_fast.stderr


def test_a_file_source_that_fails_is_retried_and_the_rules_go_on(tmp_path: Path) -> None:
    """A gzip file cannot be tailed: logged once, retried, and read once a plain file takes its place."""
    import gzip

    broken = tmp_path / "rotated.jsonl"
    broken.write_bytes(gzip.compress(b"".join(traffic("ep_zip", 3, 200))))
    live = tmp_path / "live.jsonl"
    live.write_bytes(b"")
    db = str(tmp_path / "store.db")
    with receiving() as receiver:
        (tmp_path / "alerts.toml").write_text(alerts_toml(receiver.url))
        with watching(tmp_path, db, str(broken), str(live)) as process:
            assert wait_for(lambda: "cannot tail a gzip file" in process.stderr), process.stderr
            append(live, traffic("ep_live", 8, 503))
            assert wait_for(lambda: _states(receiver) == [("ep_live", "firing")]), process.stderr
            time.sleep(QUIET_S)  # retried meanwhile (after 1 s, then 2 s), logged once
            failures = [line for line in process.lines if "gzip" in line]
            assert len(failures) == 1 and "(retrying)" in failures[0], failures
            replacement = tmp_path / "plain.jsonl"
            replacement.write_bytes(b"".join(traffic("ep_zip", 3, 200)))
            replacement.replace(broken)
            assert wait_for(lambda: "reading again" in process.stderr, timeout=20), process.stderr
            process.stop()
    assert _stats(db)["attempts"] == 11
