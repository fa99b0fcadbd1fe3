"""`tui --follow` on the one follower: a log file (or a mapped log) as well as a database, its sources' states
handed to the console for its header; a source that cannot be followed is one line before the console opens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from console.domain.follow import FollowState, FollowStatus
from tests.helpers import HOME_GROWN_MAPPING, log_line, run, stored_attempts, wait_until, write_jsonl


def _stand_in(db: Path, expected: int, seen: list[FollowStatus]) -> Any:
    """A console that waits until the store holds `expected` attempts, then notes the sources' states."""

    class Console:
        def __init__(self, followed: Any) -> None:
            self.followed = followed

        def run(self) -> None:
            wait_until(lambda: stored_attempts(db) == expected, timeout=20)
            wait_until(lambda: all(s.state is FollowState.FOLLOWING for s in self.followed()), timeout=20)
            seen.extend(self.followed())

    return lambda *args, followed=None, **kwargs: Console(followed)


def test_tui_follows_a_log_file_and_shows_its_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import console.tui.app

    log = write_jsonl(tmp_path / "live.jsonl", [log_line(f"evt_{n}") for n in range(3)])
    db = tmp_path / "store.db"
    seen: list[FollowStatus] = []
    monkeypatch.setattr(console.tui.app, "make_app", _stand_in(db, 3, seen))
    result = run("--db", str(db), "tui", "--follow", str(log))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert [(s.source, s.name, s.state) for s in seen] == [(str(log), "live.jsonl", FollowState.FOLLOWING)]


def test_tui_follows_a_mapped_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import console.tui.app

    mapping = tmp_path / "mapping.toml"
    mapping.write_text(HOME_GROWN_MAPPING)
    line = {
        "msg": "webhook.attempt",
        "ts": 1_790_000_000,
        "webhook": {"id": "evt_m", "type": "order.paid", "endpoint": "ep_m", "try": 1, "body": {"n": 1}},
        "http": {"status": 200, "duration_s": 0.2},
    }
    log = write_jsonl(tmp_path / "app.log", [{"msg": "request served"}, orjson.dumps(line)])
    db = tmp_path / "store.db"
    seen: list[FollowStatus] = []
    monkeypatch.setattr(console.tui.app, "make_app", _stand_in(db, 1, seen))
    result = run("--db", str(db), "tui", "--follow", str(log), "--map", str(mapping))
    assert result.exit_code == 0, result.stderr
    assert [s.name for s in seen] == ["app.log"]


def test_a_source_that_cannot_be_followed_is_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    missing = run("--db", db, "tui", "--follow", str(tmp_path / "nope.jsonl"))
    assert (
        missing.exit_code == 1
        and missing.stderr.strip() == f"hookconsole: {tmp_path / 'nope.jsonl'}: no such file"
    )
    stray = run("--db", db, "tui", "--map", str(tmp_path / "m.toml"))
    assert stray.exit_code == 1 and "--map" in stray.stderr and stray.stderr.count("\n") == 1
