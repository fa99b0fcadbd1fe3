"""The layer contract, checked in a fresh interpreter: the core runs without Textual, the UI without SQL/HTTP."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "console.domain",
    "console.signing",
    "console.endpoints",
    "console.store",
    "console.ingest.service",
    "console.sandbox.sample",
]


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("module", CORE)
def test_core_does_not_load_textual(module: str) -> None:
    loaded = _loaded_after_import(module)
    assert not any(m == "textual" or m.startswith("textual.") for m in loaded)


def test_signing_is_pure() -> None:
    loaded = _loaded_after_import("console.signing")
    ours = {m for m in loaded if m.startswith("console.") and m != "console.signing"}
    assert ours == set()
    assert "httpx" not in loaded and "sqlalchemy" not in loaded
