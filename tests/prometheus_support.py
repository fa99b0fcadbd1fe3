"""Prometheus's own tools for the tests: Debian's `prometheus` package (promtool, prometheus), installed by
`make test` and .ci/run when missing. Without them these tests skip, saying why; under CI=true they fail."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "docs" / "prometheus" / "rules.yml"
RULES_TEST = ROOT / "docs" / "prometheus" / "rules_test.yml"


def prometheus_tool(name: str) -> str:
    """The path of `promtool` or `prometheus`; skips the test (fails it under CI=true) when it is missing."""
    found = shutil.which(name)
    if found is None:
        why = f"{name} is not installed: apt-get install -y prometheus (make test does it when it can)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(why)
        pytest.skip(why)
    return found
