"""What every screen of the console shares: typed access to the app (its operations, its refresh interval)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.tui.app import HookConsoleApp


class ConsoleAccess:
    """Mixed into the console's screens: `self.console` is the app, typed."""

    @property
    def console(self) -> HookConsoleApp:
        return self.app  # type: ignore[attr-defined]
