"""Start-up stays light: the command line imports only what the command it runs needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console.store import open_store

HEAVY = ("pandas", "plotly", "textual", "httpx", "numpy", "sqlmodel", "pydantic")


def _imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.split()


def test_help_imports_no_heavy_library() -> None:
    code = (
        "from click.testing import CliRunner\nfrom console.cli import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\nassert result.exit_code == 0, result.output\n"
        "assert 'ingest' in result.output and 'replay' in result.output"
    )
    assert _imported_after(code) == []


@pytest.mark.parametrize(
    "command", [["stats", "--since", "24h", "--json"], ["prune", "--older-than", "90d", "--dry-run"]]
)
def test_light_commands_import_no_pandas_or_plotly(tmp_path: Path, command: list[str]) -> None:
    open_store(f"sqlite:///{tmp_path}/s.db").close()
    code = (
        "from click.testing import CliRunner\nfrom console.cli import cli\n"
        f"result = CliRunner().invoke(cli, ['--db', r'{tmp_path}/s.db', *{command!r}])\n"
        "assert result.exit_code == 0, result.output"
    )
    assert not {"pandas", "plotly", "textual"} & set(_imported_after(code))


def test_every_listed_command_loads() -> None:
    from console.cli import COMMANDS, cli

    for name in COMMANDS:
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name


@pytest.mark.parametrize(
    "command", [["stats", "--since", "24h", "--json"], ["report", "--since", "24h", "--out", "{tmp}/r.html"]]
)
def test_reading_commands_import_no_model_library(tmp_path: Path, command: list[str]) -> None:
    """The store's tables are SQLAlchemy Core (console/store/tables.py): no SQLModel, no pydantic at start-up."""
    open_store(f"sqlite:///{tmp_path}/s.db").close()
    args = [a.format(tmp=tmp_path) for a in command]
    code = (
        "from click.testing import CliRunner\nfrom console.cli import cli\n"
        f"result = CliRunner().invoke(cli, ['--db', r'{tmp_path}/s.db', *{args!r}])\n"
        "assert result.exit_code == 0, result.output"
    )
    assert not {"sqlmodel", "pydantic"} & set(_imported_after(code))


def test_creating_a_store_imports_no_model_library(tmp_path: Path) -> None:
    code = f"from console.store import open_store\nopen_store(r'sqlite:///{tmp_path}/new.db').close()"
    assert not {"sqlmodel", "pydantic"} & set(_imported_after(code))
    assert (tmp_path / "new.db").stat().st_size > 0
