"""What the command line tells an operator: unknown endpoints, missing files, how to run the demo's store again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from console.demo import again_command, prepare
from console.replay.plan import read_event_ids
from console.store import Store
from tests.helpers import ROOT, log_line, run, write_jsonl


def test_stats_warns_about_an_endpoint_that_is_not_stored(store: Store, tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", [log_line("evt_1", "ep_a"), log_line("evt_2", "ep_b")])
    assert run("--db", store.url, "ingest", str(log)).exit_code == 0
    result = run(
        "--db", store.url, "stats", "--since", "3000d", "--endpoint", "ep_nope", "--endpoint", "ep_a"
    )
    assert result.exit_code == 0
    assert result.stderr.strip() == (
        "hookconsole: warning: --endpoint 'ep_nope': no such endpoint is stored (stored: ep_a, ep_b)"
    )
    as_json = run("--db", store.url, "stats", "--since", "3000d", "--endpoint", "ep_nope", "--json")
    assert "no such endpoint is stored" in as_json.stderr
    assert orjson.loads(as_json.stdout)["endpoints"] == []
    known = run("--db", store.url, "stats", "--since", "3000d", "--endpoint", "ep_b")
    assert known.exit_code == 0 and known.stderr == ""


def test_ingest_of_a_missing_file_prints_only_the_error(store: Store, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = run("--db", store.url, "ingest", str(missing))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert str(missing) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    good = write_jsonl(tmp_path / "good.jsonl", [log_line("evt_1")])
    both = run("--db", store.url, "ingest", str(good), str(missing))
    assert both.exit_code == 1
    assert both.stdout.startswith("accepted 1, rejected 0, duplicates 0")
    assert str(missing) in both.stderr


def test_ingest_of_only_missing_files_creates_no_store(tmp_path: Path) -> None:
    """It once left an empty store file behind, which every later command then took for a real one."""
    store_file = tmp_path / "new.db"
    result = run("--db", str(store_file), "ingest", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"))
    assert result.exit_code == 1
    assert (
        result.stderr == f"hookconsole: {tmp_path}/a.jsonl: no such file; {tmp_path}/b.jsonl: no such file\n"
    )
    assert not store_file.exists()


def _run_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if not Path(p, "hookconsole").exists()
    )
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_demo_suggests_a_command_that_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = prepare(tmp_path / ".demo", events=60, days=1)  # a demo folder: store, endpoints, secrets
    script = tmp_path / ".venv" / "bin" / "hookconsole"  # what `make demo` runs: not on PATH
    script.parent.mkdir(parents=True)
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m console "$@"\n')
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    db, endpoints = Path(".demo/demo.db"), Path(".demo/endpoints.toml")
    assert (setup.db, setup.endpoints) == (tmp_path / db, tmp_path / endpoints)
    relative = again_command(db, endpoints, argv0=str(script))
    assert relative == ".venv/bin/hookconsole --db .demo/demo.db --endpoints .demo/endpoints.toml tui"
    module = again_command(db, endpoints, argv0=str(ROOT / "console" / "__main__.py"))
    assert module == f"{sys.executable} -m console --db .demo/demo.db --endpoints .demo/endpoints.toml tui"
    for command in (relative, module):
        done = _run_shell(command.removesuffix(" tui") + " stats --since 3000d", tmp_path)
        assert done.returncode == 0, (command, done.stderr)
        assert "attempts" in done.stdout
        # what the console's replay needs: the endpoints' URLs and secrets, found from this folder
        done = _run_shell(command.removesuffix(" tui") + " replay --dry-run --since 3000d", tmp_path)
        assert done.returncode == 0, (command, done.stderr)
        assert "dry run: nothing was written or sent" in done.stdout


def test_make_clean_removes_the_import_linter_cache(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make is not None, "make is needed to build and test hookconsole"
    done = subprocess.run([make, "-n", "clean"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert ".import_linter_cache" in done.stdout.split()


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--slo", "nan"],
        ["export", "--slo", "NaN"],
        ["report", "--slo", "-inf"],
        ["sample", "--days", "nan"],
        ["simulate", "--rate", "nan"],
        ["receiver", "--port", "0", "--fail-rate", "nan"],
        ["receiver", "--port", "0", "--latency-ms", "inf"],
    ],
)
def test_a_number_option_refuses_what_is_not_finite(tmp_path: Path, args: list[str]) -> None:
    """`--slo nan` once gave a report of 0 incidents: every comparison with nan is false, so no range caught it."""
    option = args[-2]
    out = ["--out", str(tmp_path / "x")] if args[0] in ("report", "export", "sample") else []
    result = run("--db", str(tmp_path / "none.db"), *args, *out)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.stderr
    assert "finite" in result.stderr or "range" in result.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "none.db").exists()


def test_replay_names_the_line_of_an_event_ids_file_that_is_not_utf8(store: Store, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"\xef\xbb\xbfevt_1\n# from the export\nevt_\xff2\n")
    result = run("--db", store.url, "replay", "--dry-run", "--event-ids-from", str(ids))
    assert result.exit_code == 1
    assert result.stderr == (
        f"hookconsole: --event-ids-from {ids}:3: not valid UTF-8 (byte 0xff at offset 31)\n"
    )
    ids.write_bytes(
        b"\xef\xbb\xbfevt_1\n# from the export\nevt_2\n"
    )  # the byte-order mark is no part of an id
    assert read_event_ids(ids) == ("evt_1", "evt_2")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["stat"], "hookconsole: no such command 'stat' (did you mean 'stats'?) (see 'hookconsole --help')"),
        (
            ["stats", "--sinc", "1d"],
            "hookconsole: No such option '--sinc'. (Did you mean one of: '--json', '--since'?) "
            "(see 'hookconsole stats --help')",
        ),
        (
            ["--dbx", "x", "stats"],
            "hookconsole: No such option '--dbx'. Did you mean '--db'? (see 'hookconsole --help')",
        ),
        (
            ["replay", "list", "--bogus"],
            "hookconsole: No such option '--bogus'. (see 'hookconsole replay list --help')",
        ),
    ],
)
def test_a_usage_error_is_one_line_with_a_suggestion(args: list[str], line: str) -> None:
    """Click printed usage errors on four lines, where every other error is one (the README's promise)."""
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == line + "\n" and result.stdout == ""


@pytest.mark.parametrize("read_only", [False, True])
def test_the_console_opens_only_a_store_that_exists(tmp_path: Path, read_only: bool) -> None:
    """A mistyped --db once made an empty store and an all-quiet dashboard; now the console says what stats says."""
    missing = tmp_path / "typo.db"
    result = run(*(["--read-only"] if read_only else []), "--db", str(missing), "tui")
    assert result.exit_code == 1
    assert result.stderr == f"hookconsole: no store at {missing}; ingest first or pass --db\n"
    assert not missing.exists()
