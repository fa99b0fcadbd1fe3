"""The replay window's progress message: a copy of the runner's counts, and a newer one replaces a queued one."""

from __future__ import annotations

from console.replay.runner import RunProgress
from console.tui.screens.replay import Progressed, Refused, ReplayScreen


def test_progress_is_a_copy_and_a_newer_one_replaces_a_queued_one() -> None:
    progress = RunProgress("rj_1")
    progress.of("ep_a").delivered = 3
    posted: list[Progressed] = []
    screen = ReplayScreen.__new__(ReplayScreen)
    screen.post_message = posted.append  # type: ignore[method-assign,assignment]
    screen._progressed(progress)
    progress.of("ep_a").delivered = 4  # the runner goes on counting
    (message,) = posted
    assert message.counts["ep_a"].delivered == 3
    assert Progressed({}).can_replace(message)
    assert not Refused("no").can_replace(message)
    assert not message.can_replace(Refused("no"))
