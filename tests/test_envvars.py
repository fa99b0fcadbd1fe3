"""The HOOKCONSOLE_* variables are the global options' own (click's `envvar=`): each is read where its option is,
shown in `--help`, and a value given on the command line wins wherever it stands."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import console.cli.stats
from console.domain.kpis import StatsSnapshot
from console.ingest.service import ingest_sources
from console.store import open_store
from tests.helpers import log_line, run, write_jsonl
from tests.sandbox import EndpointSpec, write_endpoints


def _store(folder: Path, events: int) -> str:
    """A SQLite store holding `events` deliveries, by URL."""
    url = f"sqlite:///{folder / f'{events}.db'}"
    store = open_store(url)
    try:
        lines = [
            log_line(f"evt_{i}", "ep_a", 1, attempted_at=f"2026-05-05T10:0{i}:00Z") for i in range(events)
        ]
        ingest_sources(store, [str(write_jsonl(folder / f"{events}.jsonl", lines))])
    finally:
        store.close()
    return url


def _deliveries(*args: str, env: dict[str, str]) -> int:
    done = run(*args, env=env)
    assert done.exit_code == 0, done.stderr
    return int(orjson.loads(done.stdout)["deliveries"])


def test_the_store_comes_from_hookconsole_db_unless_given(tmp_path: Path) -> None:
    two, three = _store(tmp_path, 2), _store(tmp_path, 3)
    env = {"HOOKCONSOLE_DB": two}
    assert _deliveries("stats", "--json", env=env) == 2
    assert _deliveries("--db", three, "stats", "--json", env=env) == 3  # before the command name
    assert _deliveries("stats", "--db", three, "--json", env=env) == 3  # after it
    assert _deliveries("--db", two, "stats", "--json", env={"HOOKCONSOLE_DB": three}) == 2


def test_the_endpoints_file_comes_from_hookconsole_endpoints(tmp_path: Path) -> None:
    config = write_endpoints(tmp_path / "conf", 9, [EndpointSpec("ep_a"), EndpointSpec("ep_b")])
    done = run("endpoints", "check", env={"HOOKCONSOLE_ENDPOINTS": str(config)})
    assert done.exit_code == 0, done.stderr
    assert [line.split()[1] for line in done.stdout.splitlines()] == ["ep_a", "ep_b"]
    other = write_endpoints(tmp_path / "other", 9, [EndpointSpec("ep_c")])
    given = run("--endpoints", str(other), "endpoints", "check", env={"HOOKCONSOLE_ENDPOINTS": str(config)})
    assert [line.split()[1] for line in given.stdout.splitlines()] == ["ep_c"]
    missing = run("endpoints", "check", env={"HOOKCONSOLE_ENDPOINTS": str(tmp_path / "none.toml")})
    assert missing.exit_code != 0 and "none.toml" in missing.stderr


def test_read_only_from_the_environment_and_a_bad_value(tmp_path: Path) -> None:
    url = _store(tmp_path, 1)
    log = write_jsonl(tmp_path / "more.jsonl", [log_line("evt_9", "ep_a", 1)])
    refused = run("--db", url, "ingest", str(log), env={"HOOKCONSOLE_READ_ONLY": "yes"})
    assert refused.exit_code == 1 and "read-only mode" in refused.stderr
    bad = run("--db", url, "ingest", str(log), env={"HOOKCONSOLE_READ_ONLY": "maybe"})
    assert bad.exit_code == 2 and "--read-only" in bad.stderr and "'maybe'" in bad.stderr
    assert _deliveries("--db", url, "stats", "--json", env={"HOOKCONSOLE_READ_ONLY": "0"}) == 1


def test_help_names_each_variable() -> None:
    done = run("--help")
    for name in ("HOOKCONSOLE_DB", "HOOKCONSOLE_ENDPOINTS", "HOOKCONSOLE_READ_ONLY", "HOOKCONSOLE_DEBUG"):
        assert f"env var: {name}" in " ".join(done.stdout.split()), name
    assert "env var: HOOKCONSOLE_ALERTS" in " ".join(run("watch", "--help").stdout.split())


@pytest.mark.postgres
def test_an_unexpected_error_is_one_line_without_the_store_password_unless_debugging(
    pg_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{pg_schema_url}&password=hunter2"  # the test server trusts every password
    open_store(url).close()

    # A fault no real store produces on demand (a bug in the figures, say) is injected; its message names the
    # store URL, as a library's might.
    def broken(*_args: object) -> StatsSnapshot:
        raise ValueError(f"cannot read {url}")

    monkeypatch.setattr(console.cli.stats, "read_stats", broken)
    env = {"HOOKCONSOLE_DB": url}
    done = run("stats", env=env)
    assert done.exit_code == 1
    assert done.stderr.startswith("hookconsole: unexpected error: ValueError: cannot read postgresql")
    assert "hunter2" not in done.stderr and "password=***" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="hunter2"):
        run("stats", env={**env, "HOOKCONSOLE_DEBUG": "1"})
