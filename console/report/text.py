"""Stored text made safe to render: no terminal or bidi control characters reach a report or an export.

C0 controls (NUL, BEL, ESC …) become their visible Unicode "control pictures" (␀ ␇ ␛), DEL becomes ␡, and C1
controls and bidirectional overrides (U+0085, U+009B, U+202E …) become U+FFFD. Tab, newline and carriage return
stay: they are layout, and every format here quotes them.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

from console.domain.formatting import pct

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"


def printable(text: str) -> str:
    """`text` with every control and bidi-override character replaced by a visible stand-in."""
    if text.isascii() and text.isprintable():  # the common case, checked in C: nothing to replace
        return text
    return _UNSAFE.sub(_picture, text)


def esc(value: object) -> str:
    """A value as HTML text, escaped and made printable; "" for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(printable(str(value)), quote=True)


def printable_value(value: Any) -> Any:
    """A cell or field value: strings made printable, anything else unchanged."""
    return printable(value) if isinstance(value, str) else value


def share(value: float | None) -> str:
    """A share as the report shows it: two decimals, so SLOs like 99.95% and 99.9% can be told apart."""
    return pct(value, 2)


def is_missing(value: Any) -> bool:
    """None, NaN (pandas' missing number) or an empty string."""
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def amount_text(amount: Any, currency: Any) -> str:
    """ "500 INR", "12.5", "INR" or "": never "nan nan" when a payload has no amount or currency."""
    parts = []
    if not is_missing(amount):
        parts.append(str(int(amount)) if isinstance(amount, float) and amount.is_integer() else str(amount))
    if not is_missing(currency):
        parts.append(str(currency))
    return " ".join(parts)
