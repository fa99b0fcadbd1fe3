"""Credentials in a source URL (the password, `sslpassword=`, any token-like parameter) are used to connect and
nowhere else: errors and summaries show them as ***, and the cursor's key holds none of them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from console.sources.url import parse_source_url
from console.store import Store
from console.store.cursors import load_cursor, save_cursor
from tests.helpers import run
from tests.source_tables import dispatcher_schema, source_url
from tests.svix_server import SvixTables
from tests.test_source_svix import APPS, populate

SSL_PASSWORD = "xyz-ssl-pw-5150"
OTHER = "xyz-rotated-9931"


def test_every_credential_is_masked_and_kept_out_of_the_cursor_key() -> None:
    url = parse_source_url(
        f"svix+postgresql://bob:pw%2Fq@db.internal:5432/svix?sslpassword={SSL_PASSWORD}&sslmode=require"
        "&passfile=/home/bob/.pgpass&app=shop&my_token=t%2B1"
    )
    assert url.display == (
        "svix+postgresql://bob@db.internal:5432/svix?app=shop&my_token=***&passfile=***&sslmode=require"
        "&sslpassword=***"
    )
    assert url.key == "svix+postgresql://bob@db.internal:5432/svix?app=shop&sslmode=require"
    assert SSL_PASSWORD in url.conninfo and "pw%2Fq" in url.conninfo  # still used to connect
    said = f"bad {SSL_PASSWORD}, pw/q, pw%2Fq, t+1, t%2B1 and /home/bob/.pgpass"
    assert url.mask(said) == "bad ***, ***, ***, ***, *** and ***"
    for secret in (SSL_PASSWORD, "pw/q", "t+1"):
        assert secret not in repr(url)
    rotated = parse_source_url(
        f"svix+postgresql://bob:new@db.internal:5432/svix?sslpassword={OTHER}&sslmode=require&app=shop"
    )
    assert rotated.key == url.key  # a new password reads on from the same cursor


def test_an_unreachable_source_names_no_credential(sqlite_store: Store) -> None:
    url = f"svix+postgresql://postgres:pw-{SSL_PASSWORD}@127.0.0.1:1/test?connect_timeout=2&sslpassword={SSL_PASSWORD}"
    for args in ((), ("--json",)):
        result = run("--db", sqlite_store.url, "ingest", url, *args)
        assert result.exit_code == 1
        assert "cannot connect to svix+postgresql://postgres@127.0.0.1:1/test?" in result.stderr
        assert "sslpassword=***" in result.stderr
        assert SSL_PASSWORD not in result.stdout + result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.postgres
def test_the_cursor_table_holds_no_credential(sqlite_store: Store) -> None:
    with dispatcher_schema("svix") as (conn, schema):
        populate(SvixTables(conn, APPS), 6)
        url = source_url("svix", schema, sslpassword=SSL_PASSWORD)
        first = run("--db", sqlite_store.url, "ingest", url, "--json")
        assert first.exit_code == 0, first.stderr
        assert orjson.loads(first.stdout)["accepted"] > 0
        assert SSL_PASSWORD not in first.stdout + first.stderr
        # The same source with its credential changed reads on from the same cursor.
        again = run("--db", sqlite_store.url, "ingest", url.replace(SSL_PASSWORD, OTHER), "--json")
        assert again.exit_code == 0, again.stderr
        assert orjson.loads(again.stdout)["lines"] == 0
    with sqlite_store.read() as db:
        rows = db.exec_driver_sql("SELECT source, state FROM source_cursor").fetchall()
    assert len(rows) == 1
    assert SSL_PASSWORD not in repr(rows) and OTHER not in repr(rows)


@pytest.mark.postgres
def test_a_cursor_kept_under_a_key_with_a_credential_moves_to_the_clean_key(sqlite_store: Store) -> None:
    with dispatcher_schema("svix") as (conn, schema):
        populate(SvixTables(conn, APPS), 6)
        url = source_url("svix", schema, sslpassword=SSL_PASSWORD)
        assert run("--db", sqlite_store.url, "ingest", url).exit_code == 0
        parsed = parse_source_url(url)
        state: Any = load_cursor(sqlite_store, parsed.key)
        with sqlite_store.write() as db:  # as an older version kept it: the credential in the key
            db.exec_driver_sql("DELETE FROM source_cursor")
        save_cursor(sqlite_store, parsed.legacy_key, state)
        assert SSL_PASSWORD in parsed.legacy_key
        again = run("--db", sqlite_store.url, "ingest", url, "--json")
        assert again.exit_code == 0, again.stderr
        assert orjson.loads(again.stdout)["lines"] == 0  # read on from where it was
    with sqlite_store.read() as db:
        rows = db.exec_driver_sql("SELECT source FROM source_cursor").fetchall()
    assert rows == [(parsed.key,)]
