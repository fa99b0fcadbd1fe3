"""Waits between tries of a failing source: doubling from the first, capped at `RETRY_CAP_S`."""

from __future__ import annotations

from collections.abc import Iterator

RETRY_CAP_S = 30.0  # the longest wait between tries of a failing source


def retry_waits(first_s: float) -> Iterator[float]:
    """The waits before each retry: `first_s`, then doubling, at most `RETRY_CAP_S` (or `first_s` if longer)."""
    wait_s, cap_s = first_s, max(RETRY_CAP_S, first_s)
    while True:
        yield wait_s
        wait_s = min(wait_s * 2, cap_s)
