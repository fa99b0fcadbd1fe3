"""When the terminal will drop a copy: tmux lets programs set the clipboard only with `set-clipboard on`
(a stand-in `tmux` on PATH answers `show-options` as a real one would)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.tui.clipboard import clipboard_refused


def _fake_tmux(folder: Path, answer: str) -> dict[str, str]:
    script = folder / "tmux"
    script.write_text(f"#!/bin/sh\n[ \"$1 $2 $3\" = 'show-options -gv set-clipboard' ] && echo {answer}\n")
    script.chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}", "TMUX": "/tmp/tmux-0/default,1,0"}


@pytest.mark.parametrize(("answer", "refused"), [("on", False), ("external", True), ("off", True)])
def test_tmux_set_clipboard(tmp_path: Path, answer: str, refused: bool) -> None:
    reason = clipboard_refused(_fake_tmux(tmp_path, answer))
    assert (reason is not None) == refused
    assert reason is None or answer in reason


def test_outside_tmux_the_copy_is_tried_unless_turned_off() -> None:
    assert clipboard_refused({"PATH": os.environ["PATH"]}) is None
    assert clipboard_refused({"HOOKCONSOLE_NO_CLIPBOARD": "1"}) == "HOOKCONSOLE_NO_CLIPBOARD is set"
