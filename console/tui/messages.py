"""Messages the screens' workers post (named as facts that happened)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class StoreProblem(Message):
    """A worker could not read the store; `reason` says why."""

    reason: str
