"""What every screen of the console shares: typed access to the app, and one way for its workers' failures
to reach the app (the app's `worker_state_changed` shows them and asks the screen to reset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.worker import Worker

if TYPE_CHECKING:
    from console.tui.app import HookConsoleApp


class ConsoleAccess:
    """Mixed into the console's screens: `self.console` is the app, typed."""

    @property
    def console(self) -> HookConsoleApp:
        return self.app  # type: ignore[attr-defined]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker messages do not bubble: hand every one to the app, which handles failures in one place."""
        self.console.worker_state_changed(self, event)

    def worker_failed(self, group: str, reason: str) -> None:
        """A worker of this screen ended with an error (already shown): put the screen back in a usable state."""

    def store_changed(self) -> None:
        """Something changed the store (a replay, a cancel, a resume): reload what this screen shows."""
