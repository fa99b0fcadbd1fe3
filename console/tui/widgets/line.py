"""One line of text whose size never depends on its text, redrawn only when the text changed.

`Static.update` lays out the whole screen by default (its height is `auto`, so new text may change it) and
repaints every widget after that: on a live refresh, a few such updates cost tens of milliseconds even when
nothing changed. A `Line` is one row high whatever its text (a longer text is cut, as a one-row region cuts
it), so an update repaints that line alone."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def same_text(old: str | Text | None, new: str | Text) -> bool:
    """Equal as shown: Rich's Text equality ignores the base style (a figure that turns red has changed)."""
    if isinstance(old, Text) and isinstance(new, Text):
        return (
            old.plain == new.plain
            and str(old.style) == str(new.style)
            and old.spans == new.spans
            and (old.justify, old.no_wrap, old.overflow) == (new.justify, new.no_wrap, new.overflow)
        )
    return type(old) is type(new) and old == new


class Line(Static):
    DEFAULT_CSS = "Line { height: 1; }"

    def __init__(self, text: str | Text = "", *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(text, id=id, classes=classes, markup=False)
        self._text: str | Text = text

    @property
    def text(self) -> str | Text:
        return self._text

    def show(self, text: str | Text) -> bool:
        """Show `text` unless it is already shown; True when it was redrawn."""
        if same_text(self._text, text):
            return False
        self._text = text
        self.update(text, layout=False)
        return True
