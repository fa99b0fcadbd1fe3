"""The `source_stalled` rule: a followed source that has produced nothing for longer than its usual gap.

Each follower of `watch` records when a step of it read something (a batch: lines of a file, rows of a
database poll, stored or not); the rule judges, per source, the silence since the last batch against
`factor` x the median gap between the batches of the `window` before that last batch, never less than
`min_gap`. A silence shorter than `min_gap` is judged fine at once (so the alert resolves with the first batch
after it); a longer one is judged only once the usual gap is known (at least `MIN_GAPS` gaps in the window).
A source with no batch since `watch` started is not judged.
"""

from __future__ import annotations

import itertools
import statistics
import threading
from collections import deque
from dataclasses import dataclass

from console.watch.rules import Rule

KEEP = 512  # batch times kept per source: enough for a median over an hour of steady 10-second batches
MIN_GAPS = 2


class SourceActivity:
    """When one followed source last produced batches; written by its follower thread, read by the rules."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._times: deque[int] = deque(maxlen=KEEP)
        self._lock = threading.Lock()

    def record(self, at_ms: int) -> None:
        with self._lock:
            self._times.append(at_ms)

    def times(self) -> list[int]:
        with self._lock:
            return list(self._times)


@dataclass(frozen=True)
class Silence:
    """A source's silence in seconds and the longest it may last (None while its usual gap is unknown)."""

    silence_s: float
    limit_s: float | None
    usual_gap_s: float | None


def judge_silence(rule: Rule, times: list[int], now_ms: int) -> Silence | None:
    """The silence of a source whose batches came at `times` (oldest first), or None when it has had none."""
    if not times:
        return None
    last = times[-1]
    silence_s = max(0.0, (now_ms - last) / 1000)
    floor_s = (rule.floor_ms or 0) / 1000
    recent = [t for t in times if t >= last - rule.window_ms]
    gaps = [(b - a) / 1000 for a, b in itertools.pairwise(recent) if b > a]
    if len(gaps) < MIN_GAPS:
        return Silence(silence_s, floor_s if silence_s < floor_s else None, None)
    usual = statistics.median(gaps)
    return Silence(silence_s, max(floor_s, rule.threshold * usual), usual)
