"""Can the terminal take a copy? Textual copies with OSC 52, which tmux drops unless `set-clipboard` is on;
(`external`, its default, lets only tmux itself copy). When we know it will be dropped, the console writes the text to a file instead and says so."""

from __future__ import annotations

import os
import subprocess

from console.settings import NO_CLIPBOARD


def clipboard_refused(environ: dict[str, str] | None = None) -> str | None:
    """Why the terminal will drop an OSC 52 copy, or None when it may take it (no terminal confirms it)."""
    env = os.environ if environ is None else environ
    if env.get(NO_CLIPBOARD):
        return f"{NO_CLIPBOARD} is set"
    if not env.get("TMUX"):
        return None
    try:
        done = subprocess.run(
            ["tmux", "show-options", "-gv", "set-clipboard"],
            capture_output=True,
            text=True,
            timeout=2,
            env=dict(env),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.strip()
    if (
        done.returncode == 0 and value != "on"
    ):  # "external" only lets tmux itself copy, not the programs in it
        return f"tmux has set-clipboard {value}"
    return None
