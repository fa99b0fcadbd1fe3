"""plotly.js as shipped in the plotly package, read without importing plotly (its import costs a report command
a few hundred milliseconds and the page needs only the script and its version)."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path

_VERSION = re.compile(r"plotly\.js v(\d+\.\d+\.\d+)")


def _bundle() -> Path:
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


@cache
def plotly_js() -> str:
    """The minified plotly.js bundle, for inlining."""
    return _bundle().read_text(encoding="utf-8")


@cache
def plotly_js_version() -> str:
    """The bundle's version, from its header comment (plotly's own record of it as a fallback)."""
    with _bundle().open(encoding="utf-8") as handle:
        match = _VERSION.search(handle.read(400))
    if match:
        return match.group(1)
    from plotly.offline import get_plotlyjs_version

    return str(get_plotlyjs_version())
