"""A mapping file's `[payload]` table: where a mapped log's payloads keep their business fields, read through
the same field paths as dispatcher sources, on both stores; bad entries refused naming the file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from console.domain.times import parse_rfc3339_ms
from console.ingest.mapping import MappingError, load_mapping
from console.store import open_store
from tests.helpers import run, write_jsonl

MAPPING = """
[fields]
event_id = "id"
event_type = "type"
endpoint_id = "ep"
attempt = "n"
attempted_at = "at"
payload = "body"

[payload]
user = "data.customer.id"
reward = ["data.reward.id", "reward_ref"]
amount = "data.total.value"
time = "data.occurred"
"""
AT = "2026-05-05T10:00:00Z"


def _line(event_id: str, body: dict[str, Any] | None = None, n: int = 1) -> dict[str, Any]:
    line: dict[str, Any] = {"id": event_id, "type": "reward.redeemed", "ep": "ep_pay", "n": n, "at": AT}
    if body is not None:
        line["body"] = body
    return line


def test_payload_paths_read_the_business_fields_on_both_stores(store_url: str, tmp_path: Path) -> None:
    lines = [
        _line(
            "e1",
            {
                "data": {
                    "customer": {"id": "cus_1"},
                    "reward": {"id": "rw_1"},
                    "total": {"value": 12.5, "currency": "USD"},
                    "currency": "EUR",
                    "occurred": "2026-05-04T08:30:00Z",
                },
                "user_id": "top_level_user",
            },
        ),
        _line("e1", n=2),
        # the second reward path, tried when the first finds nothing; an integer id read as its text
        _line("e2", {"data": {"customer": {"id": 42}}, "reward_ref": "rw_2", "amount": 99}),
        # nothing where the paths point: empty, never zero, and the attempt's time stands
        _line("e3", {"user_id": "u3", "reward_id": "r3", "amount": 5, "timestamp": "2026-01-01T00:00:00Z"}),
    ]
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)
    log = write_jsonl(tmp_path / "app.log", lines)
    result = run("--db", store_url, "ingest", "--map", str(mapping), str(log))
    assert result.exit_code == 0, result.stderr
    store = open_store(store_url)
    try:
        with store.read() as conn:
            rows = conn.exec_driver_sql(
                "SELECT event_id, user_id, reward_id, amount, currency, occurred_at FROM event ORDER BY event_id"
            ).all()
            attempts = conn.exec_driver_sql("SELECT count(*) FROM delivery_attempt").scalar()
    finally:
        store.close()
    at = parse_rfc3339_ms(AT)
    assert [tuple(r) for r in rows] == [
        # currency is not in [payload]: its default paths (currency, data.currency, payload.currency) apply
        ("e1", "cus_1", "rw_1", "12.5", "EUR", parse_rfc3339_ms("2026-05-04T08:30:00Z")),
        ("e2", "42", "rw_2", None, None, at),
        ("e3", None, None, None, None, at),
    ]
    assert attempts == 4


BASE = MAPPING.split("[payload]")[0] + "[payload]\n"
BAD = [
    (
        "unknown key",
        'rewrd = "data.reward_id"\n',
        "payload.rewrd: unknown business field (did you mean reward?)",
    ),
    (
        "path with spaces",
        'user = "data.customer id"\n',
        "payload.user: 'data.customer id' is not a dotted field path",
    ),
    (
        "empty segment",
        'amount = "data..amount"\n',
        "payload.amount: 'data..amount' is not a dotted field path",
    ),
    (
        "bad path in a list",
        'reward = ["data.reward_id", ""]\n',
        "payload.reward: '' is not a dotted field path",
    ),
    ("empty list", "time = []\n", "payload.time: must be a dotted path inside the payload"),
    ("a number", "currency = 3\n", "payload.currency: must be a dotted path inside the payload"),
    ("not a table", None, "payload: must be a table ([payload]), got a string"),
]


@pytest.mark.parametrize(("kind", "entry", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_payload_entries_are_refused_naming_file_and_key(
    tmp_path: Path, kind: str, entry: str | None, message: str
) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        BASE + entry if entry is not None else 'payload = "data"\n' + BASE.split("[payload]")[0]
    )
    log = write_jsonl(tmp_path / "app.log", [_line("e1", {"a": 1})])
    db = tmp_path / "store.db"
    result = run("--db", str(db), "ingest", "--map", str(mapping), str(log))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"hookconsole: --map {mapping}: {message}"), result.stderr
    assert result.stderr.count("\n") == 1 and not db.exists()
    with pytest.raises(MappingError):
        load_mapping(mapping)
