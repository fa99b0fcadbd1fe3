"""Environment variables that are not command-line options, named in one place.

The options' own variables are read by click (`envvar=`, shown in `--help`): HOOKCONSOLE_DB,
HOOKCONSOLE_ENDPOINTS and HOOKCONSOLE_READ_ONLY (cli/context.py), HOOKCONSOLE_DEBUG (cli/__init__.py),
HOOKCONSOLE_ALERTS (cli/watch.py). The ones here tune a mechanism no option stands for.
"""

from __future__ import annotations

DEFAULT_DB = "sqlite:///hookconsole.db"
"""The store every command uses without --db or HOOKCONSOLE_DB (cli/context.py; watch's replay hint omits it)."""

INGEST_PROCESSES = "HOOKCONSOLE_INGEST_PROCESSES"
"""`1`: ingest in one process even when the files are large enough to split (ingest/service.py)."""
NO_CLIPBOARD = "HOOKCONSOLE_NO_CLIPBOARD"
"""Set: the console never writes the terminal's clipboard, it saves to a file instead (tui/clipboard.py)."""
PARENT_PID = "HOOKCONSOLE_PARENT_PID"
"""Set by `demo` for the processes it starts: they end when it does (demo.py)."""
