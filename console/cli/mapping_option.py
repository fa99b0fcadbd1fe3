"""`--map FILE` (ingest, watch, tui --follow): the log mapping loaded, or one line per problem naming the option."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from console.cli.context import fail

if TYPE_CHECKING:
    from console.ingest.mapping import LogMapping

_F = TypeVar("_F", bound=Callable[..., Any])


def map_option(text: str) -> Callable[[_F], _F]:
    """`--map FILE` into the command's `map_path` (read by load_map_option)."""
    return click.option("--map", "map_path", type=click.Path(path_type=Path), metavar="FILE", help=text)


def load_map_option(path: Path | None) -> LogMapping | None:
    if path is None:
        return None
    from console.ingest.mapping import MappingError, load_mapping

    try:
        return load_mapping(path)
    except MappingError as exc:
        fail("\n".join(f"--map {problem}" for problem in exc.problems))
