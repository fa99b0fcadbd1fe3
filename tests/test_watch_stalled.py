"""The source_stalled rule: a followed file that stops being written fires once it has been silent longer than
its usual gap (never less than `min_gap`), and resolves when lines come again; the judgement itself on known
batch times."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from console.store import Store
from console.watch.daemon import Watcher, WatchOptions
from console.watch.logs import Log
from console.watch.rules import AlertsError, Rule, parse_alerts
from console.watch.stalled import judge_silence
from tests.source_tables import dispatcher_schema, source_url
from tests.svix_server import SUCCESS, SvixTables
from tests.test_source_svix import APPS
from tests.test_watch_live import watching
from tests.test_watch_sources import PASSWORD, _attempts, _with_password
from tests.watch_support import append, receiving, traffic, wait_for

STALLED = '[[rule]]\nname = "source-stalled"\nkind = "source_stalled"\nfactor = 3\nmin_gap = "2s"\nwindow = "1m"\n\n'


def _rule(text: str = STALLED) -> Rule:
    return parse_alerts(text).rules[0]


def test_the_limit_is_factor_times_the_median_gap_never_below_min_gap() -> None:
    rule = _rule()
    steady = [0, 10_000, 20_000, 30_000, 40_000]  # a batch every 10 s
    silence = judge_silence(rule, steady, 40_000 + 31_000)
    assert silence is not None and silence.usual_gap_s == 10.0 and silence.limit_s == 30.0
    assert silence.silence_s == 31.0, "31 s silent > 3 x 10 s: stalled"
    fast = [0, 100, 200, 300]  # 0.1 s gaps: the 2 s floor is the limit
    assert judge_silence(rule, fast, 1_300).limit_s == 2.0  # type: ignore[union-attr]
    assert judge_silence(rule, [], 5_000) is None, "no batch yet: not judged"
    # the usual gap unknown (one batch): a short silence is fine, a long one is not judged
    assert judge_silence(rule, [0], 1_000).limit_s == 2.0  # type: ignore[union-attr]
    assert judge_silence(rule, [0], 60_000).limit_s is None  # type: ignore[union-attr]
    # only the window (1m) before the last batch makes the usual gap: old slow batches do not count
    mixed = [0, 50_000, 100_000, 200_000, 201_000, 202_000]
    assert judge_silence(rule, mixed, 210_000).usual_gap_s == 1.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[rule]]\nname = "s"\nkind = "source_stalled"\nfactor = 0.5\n',
            "rule 's': factor: must be a number",
        ),
        (
            '[[rule]]\nname = "s"\nkind = "source_stalled"\nmin_gap = "0s"\n',
            "rule 's': min_gap: must be at least",
        ),
        ('[[rule]]\nname = "s"\nkind = "source_stalled"\nmetric = "x"\n', "rule 's': metric: unknown key"),
        ('[[rule]]\nname = "s"\nkind = "stalled"\n', "rule 's': kind: must be one of threshold, burn_rate"),
    ],
)
def test_a_bad_stalled_rule_is_one_line(text: str, expected: str) -> None:
    with pytest.raises(AlertsError) as caught:
        parse_alerts(text)
    assert any(expected in line for line in caught.value.problems), caught.value.problems


def test_a_followed_file_that_stops_fires_and_resolves_when_written_again(
    sqlite_store: Store, tmp_path: Path
) -> None:
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"")
    with receiving() as receiver:
        config = parse_alerts(STALLED + f'[[channel]]\nkind = "webhook"\nurl = "{receiver.url}"\n')
        options = WatchOptions(sources=[str(log)], every_s=0.2, follow_poll_s=0.05, follow_flush_s=0.05)
        watcher = Watcher(sqlite_store, config, options, Log(io.StringIO()))
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        thread.start()
        try:
            for _ in range(15):  # a batch every 0.2 s for 3 s: never silent for 2 s
                append(log, traffic("ep_a", 1, 200))
                time.sleep(0.2)
            assert receiver.bodies() == [], "a source producing steadily is not stalled"
            stopped = time.monotonic()
            assert wait_for(lambda: len(receiver.bodies()) == 1, timeout=15)
            waited = time.monotonic() - stopped
            firing = receiver.bodies()[0]
            assert 1.8 <= waited <= 6, f"fired {waited:.1f}s after the last line (limit 2s)"
            assert firing["state"] == "firing" and firing["rule"] == "source-stalled"
            assert firing["source"] == firing["endpoint"] and firing["source"].endswith("live.jsonl")
            assert firing["metric"] == "source_silence_s" and firing["limit"] == 2.0
            assert 0.15 <= firing["usual_gap_s"] <= 0.5 and "nothing read for" in firing["summary"]
            assert "details" not in firing, "a source has no endpoint failures to show"
            time.sleep(1.0)
            assert len(receiver.bodies()) == 1, "one notification while it stays silent"
            append(log, traffic("ep_a", 1, 200))
            assert wait_for(lambda: len(receiver.bodies()) == 2, timeout=10)
            resolved = receiver.bodies()[1]
            assert resolved["state"] == "resolved" and "reading again" in resolved["summary"]
        finally:
            stop.set()
            thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.mark.postgres
def test_a_svix_database_that_stops_being_written_fires_under_its_masked_name(tmp_path: Path) -> None:
    rule = STALLED.replace('window = "1m"\n', 'window = "1m"\nsource = "svix+postgresql://*"\n')
    with dispatcher_schema("wstall") as (conn, schema), receiving() as receiver:
        tables = SvixTables(conn, APPS)
        url = _with_password(source_url("svix", schema))
        (tmp_path / "alerts.toml").write_text(
            rule + f'[[channel]]\nkind = "webhook"\nurl = "{receiver.url}"\n'
        )
        with watching(tmp_path, str(tmp_path / "store.db"), url, "--every-source", "100ms") as process:
            for _ in range(12):  # the dispatcher writes a message every 0.25 s for 3 s
                _attempts(tables, "ep_pay", 1, SUCCESS, 200)
                time.sleep(0.25)
            assert receiver.bodies() == [], process.stderr
            assert wait_for(lambda: len(receiver.bodies()) == 1, timeout=15), process.stderr
            firing = receiver.bodies()[0]
            assert firing["state"] == "firing" and firing["source"].startswith("svix+postgresql://")
            assert f"schema={schema}" in firing["source"] and PASSWORD not in str(firing)
            _attempts(tables, "ep_pay", 1, SUCCESS, 200)
            assert wait_for(lambda: len(receiver.bodies()) == 2, timeout=15), process.stderr
            assert receiver.bodies()[1]["state"] == "resolved"
            stderr = process.stop()
    assert PASSWORD not in stderr
