"""`--map FILE` (ingest, watch, tui --follow): the log mapping loaded, or one line per problem naming the option."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from console.cli.context import fail

if TYPE_CHECKING:
    from console.ingest.mapping import LogMapping


def load_map_option(path: Path | None) -> LogMapping | None:
    if path is None:
        return None
    from console.ingest.mapping import MappingError, load_mapping

    try:
        return load_mapping(path)
    except MappingError as exc:
        fail("\n".join(f"--map {problem}" for problem in exc.problems))
