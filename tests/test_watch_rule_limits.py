"""Durations have sane bounds (alerts.toml and command-line options), one rule failing never silences the
others, and an evaluation's work grows linearly with the rules."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from console.domain.times import now_ms
from console.ingest.service import ingest_sources
from console.store import Store, open_store
from console.store.alerts import load_states, pending_outbox
from console.watch.daemon import Watcher, WatchOptions
from console.watch.logs import Log
from console.watch.rules import AlertsConfig, AlertsError, Metric, Rule, parse_alerts
from console.watch.state import run_evaluation
from tests.helpers import ROOT, run
from tests.watch_support import traffic

HUGE = "99999999999999999999d"
RULE = '[[rule]]\nname = "x"\nmetric = "success_rate"\nbelow = 0.5\n'
BURN = '[[rule]]\nname = "x"\nkind = "burn_rate"\nslo = 0.99\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (RULE + f'window = "{HUGE}"\n', "window"),
        (RULE + 'window = "367d"\n', "window"),
        (RULE + f'for = "{HUGE}"\n', "for"),
        (RULE + f'repeat = "{HUGE}"\n', "repeat"),
        (BURN + f'long = "{HUGE}"\n', "long"),
        (BURN + f'long = "400d"\nshort = "{HUGE}"\n', "short"),
        (RULE + f'window = "{"9" * 400}d"\n', "window"),
    ],
)
def test_a_rule_duration_past_the_maximum_is_one_clear_problem(text: str, key: str) -> None:
    with pytest.raises(AlertsError) as caught:
        parse_alerts(text, Path("alerts.toml"))
    assert any(
        p.startswith(f"alerts.toml: rule 'x': {key}: must be at most 366d, got '")
        for p in caught.value.problems
    ), caught.value.problems


def test_alerts_check_refuses_a_huge_window(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(RULE + f'window = "{HUGE}"\n')
    result = run("alerts", "check", str(path))
    assert result.exit_code == 1
    assert f"{path}: rule 'x': window: must be at most 366d, got '{HUGE}'" in result.stderr
    assert parse_alerts(RULE + 'window = "366d"\n').rules[0].window_ms == 366 * 86_400_000


def test_one_rule_failing_does_not_silence_the_others(sqlite_store: Store, tmp_path: Path) -> None:
    log = tmp_path / "down.jsonl"
    log.write_bytes(b"".join(traffic("ep_down", 6, 500)))
    ingest_sources(sqlite_store, [str(log)])
    good = parse_alerts(
        RULE.replace('"x"', '"down"') + '[[channel]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/x"\n'
    )
    broken = Rule("broken", "*", Metric.SUCCESS_RATE, 0.5, False, window_ms=10**20)  # past what a store holds
    config = AlertsConfig(None, (broken, *good.rules), good.channels)
    stream = io.StringIO()
    watcher = Watcher(sqlite_store, config, WatchOptions(), Log(stream))
    first = watcher.evaluate()
    watcher.evaluate()
    assert [(n.rule, n.endpoint_id) for n in first.notifications] == [("down", "ep_down")]
    assert [item.notification_id for item in pending_outbox(sqlite_store)] == [first.notifications[0].id]
    failed = [line for line in stream.getvalue().splitlines() if "broken" in line]
    assert len(failed) == 1, "logged once per failure streak"
    assert "rule broken not evaluated: OverflowError" in failed[0]
    assert "evaluation failed" not in stream.getvalue()


def _evaluate(store: Store, rules: tuple[Rule, ...]) -> None:
    run_evaluation(store, rules, (), now_ms())


def _line_events(action: Callable[[], Any]) -> int:
    """How many lines of the watch and alert-store code run during `action` (loop iterations included)."""
    roots = (str(ROOT / "console" / "watch"), str(ROOT / "console" / "store" / "alerts.py"))
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def global_(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(roots) else None

    previous = sys.gettrace()
    sys.settrace(global_)
    try:
        action()
    finally:
        sys.settrace(previous)
    return count


def test_evaluation_grows_linearly_with_rules_and_stored_states(tmp_path: Path) -> None:
    """Twice the rules, each with a stored state per endpoint: about twice the lines run (not four times)."""
    counts = []
    for n in (150, 300):
        store = open_store(str(tmp_path / f"s{n}.db"))
        try:
            log = tmp_path / f"t{n}.jsonl"
            log.write_bytes(b"".join(traffic("ep_a", 3, 500) + traffic("ep_b", 3, 503)))
            ingest_sources(store, [str(log)])
            config = parse_alerts(
                "".join(
                    f'[[rule]]\nname = "r{i}"\nmetric = "success_rate"\nbelow = 0.5\n\n' for i in range(n)
                )
            )
            Watcher(store, config, WatchOptions(), Log(io.StringIO()))  # makes the alert tables
            run_evaluation(store, config.rules, (), now_ms())
            assert len(load_states(store)) == 2 * n  # every rule has a state for both endpoints
            counts.append(_line_events(partial(_evaluate, store, config.rules)))
        finally:
            store.close()
    assert counts[1] / counts[0] < 2.3, counts


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("watch", "--every", "99999999999d"), "--every"),
        (("watch", "--every-source", "99999999999d"), "--every-source"),
        (("ingest", "--follow", "--every", "99999999999d", "x.jsonl"), "--every"),
        (("tui", "--refresh", "99999999999d"), "--refresh"),
        (("tui", "--every", "99999999999d"), "--every"),
        (("demo", "--refresh", "99999999999d"), "--refresh"),
        (("stats", "--stuck-after", "99999999999d"), "--stuck-after"),
        (("prune", "--older-than", "99999999999d"), "--older-than"),
        (("prune", "--older-than", "90d", "--rollups-older-than", f"{'9' * 400}d"), "--rollups-older-than"),
        (("receiver", "--port", "0", "--down-for", "99999999999d"), "--down-for"),
        (("simulate", "--duration", "99999999999d"), "--duration"),
    ],
)
def test_a_duration_option_past_its_maximum_is_a_usage_error(
    args: tuple[str, ...], option: str, tmp_path: Path
) -> None:
    result = run("--db", str(tmp_path / "store.db"), *args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.stderr and "must be at most" in result.stderr, (
        result.stderr
    )
