"""Output paths that must not destroy inputs: a command refuses to write over an input file or the store."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from console.cli.context import fail
from console.store import normalise_url
from console.store.engine import store_files


def same_file(a: Path, b: Path) -> bool:
    """True when both paths name one file: equal once resolved (symlinks, `..`), or the same inode (hard links)."""
    try:
        if a.resolve() == b.resolve():
            return True
    except OSError:
        pass
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def refuse_overwrite(
    option: str, outputs: Iterable[Path], inputs: Iterable[str | Path] = (), db: str | None = None
) -> None:
    """Stop with one line naming `option` when an output is one of the input files or a file of the store at `db`
    (a SQLite file and its -wal, -shm and -journal files)."""
    protected = [(Path(p), "an input file") for p in inputs if str(p) != "-"]
    if db is not None:
        protected += [(p, "a file of the store") for p in store_files(normalise_url(db))]
    for output in outputs:
        for path, what in protected:
            if same_file(output, path):
                fail(f"{option} {output}: is {what} ({path}); refusing to overwrite it, choose another path")
