"""One reading of a duration for every option and config key: the same words for the same mistake, behind
where it was made (the option, the file and key, the source URL's option, the schedule's retry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.domain.times import bounded_duration_ms
from console.ingest.log_files import SourceError
from console.sources.url import parse_source_url
from console.watch.rules import AlertsError, parse_alerts
from tests.helpers import run

RULE = '[[rule]]\nname = "x"\nmetric = "success_rate"\nbelow = 0.5\n'


def _option_problem(tmp_path: Path, option: str, value: str) -> str:
    """What `stats OPTION VALUE` says after "Invalid value for 'OPTION': "."""
    done = run("--db", str(tmp_path / "store.db"), "stats", option, value)
    assert done.exit_code == 2, done.output
    prefix = f"hookconsole: Invalid value for '{option}': "
    assert done.stderr.startswith(prefix), done.stderr
    return done.stderr.removeprefix(prefix).split(" (see '")[0]


def _alerts_problem(key: str, value: str) -> str:
    """What alerts.toml's check says after "alerts.toml: rule 'x': KEY: "."""
    with pytest.raises(AlertsError) as caught:
        parse_alerts(RULE + f'{key} = "{value}"\n')
    (problem,) = caught.value.problems
    prefix = f"alerts.toml: rule 'x': {key}: "
    assert problem.startswith(prefix), problem
    return problem.removeprefix(prefix)


def _source_problem(value: str) -> str:
    with pytest.raises(SourceError) as caught:
        parse_source_url(f"svix+postgresql://svix@127.0.0.1:5432/svix?window={value}")
    prefix = "svix source URL: window=: "
    assert str(caught.value).startswith(prefix), str(caught.value)
    return str(caught.value).removeprefix(prefix)


def _schedule_problem(tmp_path: Path, value: str) -> str:
    done = run("--db", str(tmp_path / "store.db"), "whatif", "--schedule", f"5s,{value}")
    assert done.exit_code == 2, done.output
    where = f"retry 2 of '5s,{value}': "
    assert where in done.stderr, done.stderr
    return done.stderr.split(where, 1)[1].split(" (see '")[0]


@pytest.mark.parametrize("value", ["5x", "5 minutes", "-1s", ""])
def test_a_bad_duration_reads_the_same_as_an_option_a_config_key_a_url_option_and_a_schedule(
    tmp_path: Path, value: str
) -> None:
    expected = f"must be a duration like 30s, 5m, 24h or 7d, got {value!r}"
    assert _option_problem(tmp_path, "--stuck-after", value) == expected
    assert _alerts_problem("window", value) == expected
    if value:  # an empty one is the URL's own problem (an empty option), and the schedule's (two commas)
        assert _source_problem(value) == expected
        assert _schedule_problem(tmp_path, value) == expected


def test_a_duration_past_its_bound_names_the_bound_the_same_way(tmp_path: Path) -> None:
    assert _option_problem(tmp_path, "--stuck-after", "400d") == "must be at most 366d, got '400d'"
    assert _alerts_problem("window", "400d") == "must be at most 366d, got '400d'"
    assert _source_problem("2h") == "must be at most 1h, got '2h'"
    assert _schedule_problem(tmp_path, "31d") == "must be at most 30d, got '31d'"
    assert _option_problem(tmp_path, "--stuck-after", "0s") == "must be longer than 0, got '0s'"


def test_the_reading_itself() -> None:
    assert bounded_duration_ms("1.5s", 2000) == 1500
    assert bounded_duration_ms(" 2w ", 14 * 86_400_000) == 14 * 86_400_000
    with pytest.raises(ValueError, match=r"must be a duration like 30s, 5m, 24h or 7d, got 30$"):
        bounded_duration_ms(30, 60_000)  # a TOML number where a duration string belongs
    with pytest.raises(ValueError, match=r"must be at least 1s, got '500ms'"):
        bounded_duration_ms("500ms", 60_000, minimum_ms=1000)


@pytest.mark.parametrize(
    ("command", "option", "more"),
    [("ingest", "--every", ("--follow", "x.jsonl")), ("tui", "--every", ()), ("watch", "--every-source", ())],
)
def test_every_database_poll_option_has_one_floor_and_default(
    command: str, option: str, more: tuple[str, ...], tmp_path: Path
) -> None:
    """ingest's and tui's --every and watch's --every-source are one declaration: at least 100ms (tui took any
    value and raised it to 100ms unsaid), 2s by default."""
    done = run("--db", str(tmp_path / "store.db"), command, option, "50ms", *more)
    assert done.exit_code == 2, done.output
    assert f"Invalid value for '{option}': must be at least 100ms, got '50ms'" in done.stderr, done.stderr
    described = " ".join(run(command, "--help").output.split(f"{option} DURATION", 1)[1].split())
    assert described.split("]", 1)[0].endswith("[default: 2s"), described
