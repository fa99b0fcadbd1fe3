"""What every screen of the console shares: typed access to the app, and one way for its workers' failures
to reach the app (the app's `worker_state_changed` shows them and asks the screen to reset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.events import Mount
from textual.widgets import Static
from textual.worker import Worker

if TYPE_CHECKING:
    from console.tui.app import HookConsoleApp


READ_ONLY_BADGE = " READ-ONLY: replay, resume, cancel and resolve are off "


class ConsoleAccess:
    """Mixed into the console's screens: `self.console` is the app, typed. In read-only mode every screen
    shows a badge, and the actions in its WRITE_ACTIONS (sending, resuming, cancelling) are hidden and off."""

    WRITE_ACTIONS: frozenset[str] = frozenset()

    @property
    def console(self) -> HookConsoleApp:
        app: HookConsoleApp = self.app  # type: ignore[attr-defined]
        return app

    def _on_mount(self, event: Mount) -> None:  # Textual calls this beside each screen's own on_mount
        if self.console.read_only:
            badge = Static(READ_ONLY_BADGE, id="read-only-badge", markup=False)
            self.mount(badge, before=0)  # type: ignore[attr-defined]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.WRITE_ACTIONS and self.console.read_only:
            return False  # hidden from the footer and refused
        allowed: bool | None = super().check_action(action, parameters)  # type: ignore[misc]
        return allowed

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker messages do not bubble: hand every one to the app, which handles failures in one place."""
        self.console.worker_state_changed(self, event)

    def worker_failed(self, group: str, reason: str) -> None:
        """A worker of this screen ended with an error (already shown): put the screen back in a usable state."""

    def store_changed(self) -> None:
        """Something changed the store (a replay, a cancel, a resume): reload what this screen shows."""
