"""Atomic file writes: a reader (or a crash) never sees half a file, and a killed writer's leftovers are removed
by the next write of the same file."""

from __future__ import annotations

import glob
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

# A part file without a writer's pid (written before parts carried one) is stale after this long.
UNOWNED_PART_STALE_S = 3600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_parts(path: Path) -> list[Path]:
    """Remove the part files of `path` whose writer is gone (killed mid-write); returns what was removed."""
    owned = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)-[^/]*\.part$")
    removed: list[Path] = []
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.*.part"))
    except OSError:
        return removed
    for part in candidates:
        match = owned.match(part.name)
        try:
            if match:
                stale = int(match.group(1)) != os.getpid() and not _alive(int(match.group(1)))
            else:
                stale = time.time() - part.stat().st_mtime > UNOWNED_PART_STALE_S
            if stale:
                part.unlink()
                removed.append(part)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed


@contextmanager
def atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """Write to a temporary file next to `path`, then rename it into place; on error, remove it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".part", dir=path.parent)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(temp, 0o666 & ~mask)  # mkstemp makes 0600; the finished file gets the usual permissions
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, produce: Callable[[IO[bytes]], None]) -> Path:
    with atomic_writer(path) as out:
        produce(out)
    return path
