"""`--where`: the grammar (valid and invalid), its compilation on both stores, injection attempts as plain text,
and the commands that take it (stats, replay, export, report)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.domain.filters import DeliveryFilter
from console.domain.where import And, Comparison, Field, InList, Not, Or, Where, WhereError, parse_where
from console.ingest.service import ingest_sources
from console.store import Store
from console.store.deliveries import all_deliveries, count_deliveries
from console.store.frames import iter_attempts
from console.store.stats import read_stats
from tests.helpers import log_line, run, write_jsonl
from tests.sandbox import EndpointSpec, write_endpoints

INJECTION = "x'); DROP TABLE event; --"


def _payload(event_id: str, **fields: Any) -> dict[str, Any]:
    return {"event": "reward.redeemed", "event_id": event_id, **fields}


PAYLOADS = {
    "evt_1": _payload("evt_1", user_id="u1", amount=500, currency="INR", meta={"tier": "gold", "score": 7}),
    "evt_2": _payload("evt_2", user_id="u2", amount=1000, currency="EUR", meta={"tier": "silver"}),
    "evt_3": _payload("evt_3", user_id="u3", amount=2500.5, currency="EUR"),
    "evt_4": _payload("evt_4", user_id="u4", amount="1200", currency=INJECTION),  # amount as a string
    "evt_5": _payload("evt_5", user_id="u1", currency="eur", note='say "hi" it\'s \\ ok'),  # no amount
}


@pytest.fixture
def content_store(store: Store, tmp_path: Path) -> Store:
    lines = []
    for i, (event_id, payload) in enumerate(PAYLOADS.items()):
        at = f"2026-05-05T10:0{i}:00Z"
        lines.append(log_line(event_id, "ep_a", 1, attempted_at=at, status_code=500, payload=payload))
        lines.append(log_line(event_id, "ep_a", 2, attempted_at=f"2026-05-05T10:0{i}:30Z", status_code=200))
        lines.append(log_line(event_id, "ep_b", 1, attempted_at=at, status_code=200, latency_ms=40.0))
    ingest_sources(store, [str(write_jsonl(tmp_path / "log.jsonl", lines))])
    return store


def matching(store: Store, where: str) -> list[str]:
    rows = all_deliveries(store, DeliveryFilter(endpoint_ids=("ep_a",), where=Where.parse(where)))
    return sorted(r.event_id for r in rows)


# --- the grammar ---------------------------------------------------------------------------------------------


def test_parse_builds_the_tree() -> None:
    assert parse_where('amount >= 1000 and currency = "EUR"') == And(
        (Comparison(Field(("amount",)), ">=", Decimal(1000)), Comparison(Field(("currency",)), "=", "EUR"))
    )
    assert parse_where("NOT (a.b = 'x' OR c != -1.5e2)") == Not(
        Or((Comparison(Field(("a", "b")), "=", "x"), Comparison(Field(("c",)), "!=", Decimal("-150"))))
    )
    assert parse_where('user_id not in ("u1", "u2")') == InList(Field(("user_id",)), ("u1", "u2"), True)
    assert parse_where(r'note = "a\"b\\c"') == Comparison(Field(("note",)), "=", 'a"b\\c')


def test_and_binds_tighter_than_or() -> None:
    tree = parse_where("a = 1 or b = 2 and c = 3")
    assert isinstance(tree, Or) and isinstance(tree.operands[1], And)


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "empty expression", 1),
        ("amount >=", "expected a string or a number, found the end", 10),
        ("amount 1000", "expected an operator", 8),
        ('currency = "EUR', "unterminated string", 12),
        ("amount >= 1000 currency", "expected 'and', 'or' or the end", 16),
        ("(amount > 1", "expected ')'", 12),
        ("amount ! 3", "unexpected '!'", 8),
        ("amount == 3", "expected a string or a number, found '='", 9),
        ("user_id in ()", "expected a string or a number", 13),
        ("user_id in ('a' 'b')", "expected ',' or ')'", 17),
        ("a.", "expected a field name after '.'", 3),
        ("amount >= 1; DROP TABLE event", "unexpected character ';'", 12),
        ("__import__('os').system('x') = 1", "expected an operator", 11),
        ("currency = EUR", "expected a string or a number, found 'EUR'", 12),
        ("not in ('a')", "expected a field name", 5),
        ("amount > 1e999", "out of range", 10),
    ],
)
def test_bad_expressions_name_the_position(text: str, message: str, position: int) -> None:
    with pytest.raises(WhereError) as caught:
        parse_where(text)
    assert message in str(caught.value)
    assert caught.value.position == position
    assert str(caught.value).endswith(f"at position {position}")


def test_depth_and_length_are_bounded() -> None:
    with pytest.raises(WhereError, match="nested deeper"):
        parse_where("(" * 100 + "a = 1" + ")" * 100)
    with pytest.raises(WhereError, match="longer than"):
        parse_where("a = " + "1" * 5000)


# --- compiled to SQL, on both stores -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("amount >= 1000", ["evt_2", "evt_3"]),  # evt_4's amount is a string: not a number
        ("amount > 1000", ["evt_3"]),
        ("amount = 2500.5", ["evt_3"]),
        ("amount < 1000", ["evt_1"]),
        ('currency = "EUR"', ["evt_2", "evt_3"]),
        ('currency != "EUR"', ["evt_1", "evt_4", "evt_5"]),
        ('not currency = "EUR"', ["evt_1", "evt_4", "evt_5"]),
        ('user_id in ("u1","u2")', ["evt_1", "evt_2", "evt_5"]),
        ('user_id not in ("u1","u2")', ["evt_3", "evt_4"]),
        ('amount = "1200"', ["evt_4"]),
        ("not amount >= 0", ["evt_4", "evt_5"]),  # missing or not a number: the comparison is false
        ('meta.tier = "gold"', ["evt_1"]),
        ("meta.score >= 7", ["evt_1"]),
        ('meta.tier in ("gold", "silver") and amount >= 1000', ["evt_2"]),
        ('(currency = "EUR" or currency = "eur") and not user_id = "u3"', ["evt_2", "evt_5"]),
        ('currency < "F"', ["evt_2", "evt_3"]),  # byte order on both stores: "eur" > "F"
        ('note = "say \\"hi\\" it\'s \\\\ ok"', ["evt_5"]),
        (f'currency = "{INJECTION}"', ["evt_4"]),
        ("currency = 'x''); DROP TABLE event; --'", []),  # two strings in a row: never valid, nothing runs
    ],
)
def test_where_selects_by_payload(content_store: Store, where: str, expected: list[str]) -> None:
    try:
        found = matching(content_store, where)
    except WhereError:
        assert expected == []
        found = []
    assert found == expected
    assert (
        count_deliveries(content_store, DeliveryFilter(where=Where.parse("amount >= 0"))) == 6
    )  # the tables are intact


def test_injection_in_a_field_value_is_plain_text(content_store: Store) -> None:
    where = 'currency = "\'; DELETE FROM delivery; --" or user_id = "u1\\" OR 1=1 --"'
    assert matching(content_store, where) == []
    assert count_deliveries(content_store, DeliveryFilter()) == 10


def test_where_combines_with_the_other_filters_and_attempt_export(content_store: Store) -> None:
    flt = DeliveryFilter(where=Where.parse('currency = "EUR"'), endpoint_ids=("ep_b",))
    assert sorted(r.event_id for r in all_deliveries(content_store, flt)) == ["evt_2", "evt_3"]
    attempts = [
        row
        for page in iter_attempts(content_store, DeliveryFilter(where=Where.parse('currency = "EUR"')))
        for row in page
    ]
    assert sorted({(r[1], r[3], r[4]) for r in attempts}) == [
        ("evt_2", "ep_a", 1),
        ("evt_2", "ep_a", 2),
        ("evt_2", "ep_b", 1),
        ("evt_3", "ep_a", 1),
        ("evt_3", "ep_a", 2),
        ("evt_3", "ep_b", 1),
    ]


def test_stats_where_counts_the_matching_deliveries(content_store: Store) -> None:
    snap = read_stats(content_store, DeliveryFilter(where=Where.parse('currency = "EUR"')))
    k = snap.overall
    assert (k.attempts, k.successes, k.http_errors) == (6, 4, 2)
    assert (k.first_attempts, k.first_attempt_successes, k.deliveries, k.delivered) == (4, 2, 4, 4)
    by_endpoint = {e.endpoint_id: e for e in snap.endpoints}
    assert by_endpoint["ep_a"].kpis.attempts == 4 and by_endpoint["ep_b"].kpis.attempts == 2
    assert [(c.label, c.count) for c in by_endpoint["ep_a"].top_status_codes] == [("500", 2)]
    assert k.latency.count == 6 and k.latency.p50 is not None
    everything = read_stats(content_store, DeliveryFilter())
    assert everything.overall.attempts == 15  # without --where: the rollups


# --- the command line ----------------------------------------------------------------------------------------


def test_cli_stats_and_bad_expression(content_store: Store, store_url: str) -> None:
    done = run("--db", store_url, "stats", "--json", "--where", "amount >= 1000")
    assert done.exit_code == 0, done.stderr
    assert orjson.loads(done.stdout)["deliveries"] == 4
    bad = run("--db", store_url, "stats", "--where", "amount >>= 1")
    assert bad.exit_code == 2
    assert "--where" in bad.stderr and "at position 9" in bad.stderr


def test_cli_replay_dry_run_uses_where(content_store: Store, store_url: str, tmp_path: Path) -> None:
    config = write_endpoints(tmp_path, 9, [EndpointSpec("ep_a"), EndpointSpec("ep_b")])
    done = run(
        "--db",
        store_url,
        "--endpoints",
        str(config),
        "replay",
        "--status",
        "any",
        "--where",
        'user_id in ("u1","u2")',
        "--dry-run",
        "--json",
    )
    assert done.exit_code == 0, done.stderr
    assert '"evt_3"' not in done.stdout and '"evt_1"' in done.stdout and '"evt_2"' in done.stdout


def test_cli_report_and_export_take_where(content_store: Store, store_url: str, tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    done = run("--db", store_url, "report", "--where", "amount >= 1000", "--out", str(report))
    assert done.exit_code == 0, done.stderr
    assert "(6 attempts," in done.stdout  # evt_2 and evt_3: three attempts each (tests/test_report_where.py)
    assert "Payload filter: amount &gt;= 1000" in report.read_text()
    out = tmp_path / "export"
    done = run("--db", store_url, "export", "--out", str(out), "--where", "amount < 1000")
    assert done.exit_code == 0, done.stderr
    deliveries = orjson.loads((out / "deliveries.json").read_bytes())
    assert sorted({d["event_id"] for d in deliveries}) == ["evt_1"]
    assert (out / "incidents.json").exists() and "Payload filter: amount &lt; 1000" in (
        out / "report.html"
    ).read_text()


def test_hostile_payloads_do_not_break_the_query(store: Store, tmp_path: Path) -> None:
    # A NUL escape (which PostgreSQL's jsonb refuses), deep nesting and odd keys sit beside a plain payload.
    deep: dict[str, Any] = {"v": 1}
    for _ in range(50):
        deep = {"n": deep}
    payloads = [
        {"currency": "EUR", "note": "a\u0000b", "amount": 1},
        {"currency": "EUR", "deep": deep, "amount": 2},
        {"currency": "EUR", "weird key": {"$.x": 1}, "amount": 3, "meta": [1, 2]},
    ]
    lines = [log_line(f"evt_h{n}", "ep_a", 1, payload=p) for n, p in enumerate(payloads)]
    ingest_sources(store, [str(write_jsonl(tmp_path / "h.jsonl", lines))])
    assert matching(store, 'currency = "EUR" and amount >= 2') == ["evt_h1", "evt_h2"]
    assert matching(store, "meta.x = 1 or deep.n.n.v = 1") == []
    assert matching(store, 'note = "a b"') == []


def test_a_payload_that_is_not_json_is_skipped_and_counted(content_store: Store, tmp_path: Path) -> None:
    """A dispatcher may send any bytes: one payload that is not JSON (nor UTF-8) once failed every `--where` on
    the store ("malformed JSON"). It matches no expression, `not` included, and the commands count it."""
    before = {w: matching(content_store, w) for w in ("amount >= 1000", "not amount >= 1000")}
    victim = before["amount >= 1000"][0]
    with content_store.write() as conn:
        p = content_store.dialect.placeholder
        conn.exec_driver_sql(
            f"UPDATE event SET payload = {p} WHERE event_id = {p}", (b"not json \xff{", victim)
        )
    assert matching(content_store, "amount >= 1000") == [e for e in before["amount >= 1000"] if e != victim]
    assert matching(content_store, "not amount >= 1000") == before["not amount >= 1000"]
    assert count_deliveries(
        content_store, DeliveryFilter(where=Where.parse("not amount >= 1000"))
    ) == 2 * len(before["not amount >= 1000"])
    common = ["--db", content_store.url]
    stats = run(*common, "stats", "--since", "3000d", "--where", "not amount >= 1000")
    assert stats.exit_code == 0, stats.stderr
    note = "hookconsole: note: --where skipped 2 deliveries whose payload is not JSON"
    assert note in stats.stderr.splitlines()
    config = write_endpoints(tmp_path, 9, [EndpointSpec("ep_a"), EndpointSpec("ep_b")])
    dry = run(
        *common,
        "--endpoints",
        str(config),
        "replay",
        "--dry-run",
        "--since",
        "3000d",
        "--status",
        "any",
        "--where",
        "amount > 0",
    )
    assert dry.exit_code == 0, dry.stderr + dry.stdout
    assert note in dry.stderr.splitlines()
    report = run(
        *common, "report", "--since", "3000d", "--where", "amount > 0", "--out", str(tmp_path / "r.html")
    )
    assert report.exit_code == 0 and note in report.stderr.splitlines()
    plain = run(*common, "stats", "--since", "3000d")
    assert "note" not in plain.stderr
