"""The package as a user installs it: build the wheel, install it with its dependencies into a fresh venv (no
system site-packages, so nothing of this checkout or its venv leaks in), then run the installed `hookconsole`.

Dependencies come from the package index pip is configured with (offline here). About a minute, most of it pip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import orjson
import pytest

from tests.watch_support import alerts_toml, traffic

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.package, pytest.mark.slow, pytest.mark.timeout(300)]


def _clean_env() -> dict[str, str]:
    """This process's environment without what would point Python at this checkout or its venv (pip's
    configuration, PIP_*, stays: it names the package index)."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("HOOKCONSOLE_")}


def _run(args: list[str | Path], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_clean_env()
    )


def _data_files() -> set[str]:
    """The package's files that are not Python (styles, templates...): each must ship in the wheel."""
    tracked = _run(["git", "ls-files", "console"], ROOT).stdout.split()
    return {name for name in tracked if not name.endswith(".py")}


def test_wheel_installs_in_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    started = time.monotonic()
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT], tmp_path
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("hookconsole-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = next(
            archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt")
        )
    data = _data_files()
    assert data, "the package has data files (console/tui/console.tcss at least)"
    assert data <= names, f"missing from the wheel: {sorted(data - names)}"
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    assert "hookconsole = console.cli:main" in entry_points
    for field in ("Summary: ", "License-Expression: MIT", "Requires-Python: >=3.11", "Classifier: "):
        assert field in metadata, field

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", venv], tmp_path)
    assert made.returncode == 0, made.stderr
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    python, hookconsole = venv / "bin" / "python", venv / "bin" / "hookconsole"
    # --no-compile: byte-compiling pandas and plotly would double the time; the first import compiles instead
    installed = _run([python, "-m", "pip", "install", "-q", "--no-compile", wheel], tmp_path)
    assert installed.returncode == 0, installed.stderr
    where = _run([python, "-c", "import console; print(console.__file__)"], tmp_path)
    assert where.stdout.startswith(str(venv)), where.stdout  # the installed copy, not this checkout

    shown = _run([hookconsole, "--help"], tmp_path)
    assert shown.returncode == 0 and "watch" in shown.stdout, shown.stderr

    log = tmp_path / "live.jsonl"
    log.write_bytes(b"".join(traffic("ep_ok", 6, 200) + traffic("ep_down", 6, 503)))
    (tmp_path / "alerts.toml").write_text(alerts_toml("http://127.0.0.1:9/alerts"))
    store = tmp_path / "store.db"
    once = _run([hookconsole, "--db", store, "watch", "--once", "--alerts", "alerts.toml", log], tmp_path)
    assert once.returncode == 3, once.stderr  # evaluated: ep_down fires
    assert "ep_down" in once.stderr and "endpoint-down" in once.stderr
    stats = _run([hookconsole, "--db", store, "stats", "--json"], tmp_path)
    assert orjson.loads(stats.stdout)["attempts"] == 12, stats.stderr

    # the report inlines plotly.js from the installed plotly: the dependency's data file is there too
    report = _run([hookconsole, "--db", store, "report", "--out", tmp_path / "r.html"], tmp_path)
    assert report.returncode == 0, report.stderr
    assert "plotly.js v" in (tmp_path / "r.html").read_text(encoding="utf-8")
    # the console's stylesheet is found where the installed package lives
    tcss = _run(
        [
            python,
            "-c",
            "import console.tui, pathlib; print(pathlib.Path(console.tui.__file__).with_name('console.tcss').is_file())",
        ],
        tmp_path,
    )
    assert tcss.stdout.strip() == "True", tcss.stderr
    print(f"build, venv, install and runs: {time.monotonic() - started:.1f}s")
