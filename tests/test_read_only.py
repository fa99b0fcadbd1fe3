"""Read-only mode (`--read-only`, HOOKCONSOLE_READ_ONLY=1), on SQLite and PostgreSQL: every command that sends
or changes the store is refused with one line and changes nothing; looking still works."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from console.store import Store
from tests.helpers import log_line, run, table_count, write_jsonl
from tests.sandbox import write_endpoints
from tests.test_replay import SPECS, seed_store

REFUSED = "hookconsole: read-only mode (--read-only or HOOKCONSOLE_READ_ONLY): {} is refused"


@pytest.mark.parametrize("how", ["option", "env"])
@pytest.mark.parametrize(
    ("args", "action"),
    [
        (["replay", "--endpoint", "ep_std", "--yes"], "replay (sending)"),
        (["replay", "resume", "rj_x", "--yes"], "replay resume"),
        (["replay", "cancel", "rj_x"], "replay cancel"),
        (["prune", "--older-than", "1d", "--yes"], "prune"),
        (["ingest", "LOG"], "ingest"),
        (["tui", "--follow", "svix+postgresql://u@127.0.0.1:1/x?app=a"], "--follow (ingest)"),
        (["watch", "LOG", "--once"], "watch SOURCE (ingest)"),
        (["watch", "svix+postgresql://u@127.0.0.1:1/x?app=a", "--once"], "watch SOURCE (ingest)"),
        (["simulate", "--duration", "2s", "--rate", "50"], "simulate (sending)"),
        (["demo", "--folder", "DEMO"], "demo (sending sandbox traffic)"),
    ],
)
def test_read_only_refuses(store: Store, tmp_path: Path, how: str, args: list[str], action: str) -> None:
    seed_store(store, tmp_path, events=2)
    config = write_endpoints(tmp_path, 9, SPECS)
    log = write_jsonl(tmp_path / "new.jsonl", [log_line("evt_new", "ep_std", 1)])
    args = [{"LOG": str(log), "DEMO": str(tmp_path / "demo")}.get(a, a) for a in args]
    before = {t: table_count(store, t) for t in ("delivery_attempt", "delivery", "event", "replay_job")}
    common = ["--db", store.url, "--endpoints", str(config)]
    if how == "option":
        result = run("--read-only", *common, *args)
    else:
        result = run(*common, *args, env={"HOOKCONSOLE_READ_ONLY": "1"})
    assert result.exit_code == 1
    assert result.stderr == REFUSED.format(action) + "\n" and result.stdout == ""
    assert {t: table_count(store, t) for t in before} == before


def test_read_only_still_looks(store: Store, tmp_path: Path) -> None:
    seed_store(store, tmp_path, events=2)
    config = write_endpoints(tmp_path, 9, SPECS)
    common = ["--read-only", "--db", store.url, "--endpoints", str(config)]
    plan = run(*common, "replay", "--endpoint", "ep_std", "--dry-run", "--json")
    assert plan.exit_code == 0, plan.stderr
    assert orjson.loads(plan.stdout)["to_send"] == 2
    assert run(*common, "replay", "list", "--json").stdout.strip() == "[]"
    assert orjson.loads(run(*common, "stats", "--json").stdout)["attempts"] > 0
    off = run("--db", store.url, "replay", "list", env={"HOOKCONSOLE_READ_ONLY": "0"})
    assert off.exit_code == 0


def test_read_only_watch_without_sources_still_evaluates(store: Store, tmp_path: Path) -> None:
    """Rules and metrics only read: `watch` without a SOURCE runs in read-only mode, and adds nothing."""
    seed_store(store, tmp_path, events=2)
    alerts = tmp_path / "alerts.toml"
    alerts.write_text('[[rule]]\nname = "backlog"\nendpoint = "*"\nmetric = "undelivered"\nabove = 0\n')
    before = {t: table_count(store, t) for t in ("delivery_attempt", "delivery", "event")}
    result = run("--read-only", "--db", store.url, "watch", "--alerts", str(alerts), "--once")
    assert result.exit_code == 3, result.stderr  # evaluated: the seeded backlog fires
    assert "read-only" not in result.stderr
    assert {t: table_count(store, t) for t in before} == before
