"""Showing data in the console: every value from the store becomes literal text (no markup, no control
characters). Numbers, latencies and ages are formatted by `console.domain.formatting`, as in the CLI and
the report; times of day here."""

from __future__ import annotations

from rich.text import Text

from console.domain.times import MS_PER_DAY, format_ms

# C0, DEL and C1 controls, and the invisible characters that reorder or break a line (bidi embeddings,
# overrides and isolates, marks, line/paragraph separators, zero-width joiners): shown as escapes.
_INVISIBLE = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0x061C,
    *range(0x200B, 0x2010),
    *range(0x2028, 0x202F),
    *range(0x2060, 0x2070),
    0xFEFF,
]
_CONTROL = {i: (f"\\x{i:02x}" if i < 0x100 else f"\\u{i:04x}") for i in _INVISIBLE}


def plain(value: object) -> str:
    """A stored string made safe to show: control and bidi characters become \\xNN / \\uNNNN escapes."""
    return "-" if value is None else str(value).translate(_CONTROL)


def literal(value: object, style: str = "") -> Text:
    """A value as literal text (never markup: `[bold]` stays `[bold]`), control characters escaped.
    Every stored string the console shows goes through here (or `plain`, for a Text built by hand)."""
    if value is None:
        return Text("-", style="dim")
    return Text(plain(value), style=style)


def clock(ms_value: int) -> str:
    """HH:MM:SS (UTC) of a timestamp."""
    return format_ms(ms_value)[11:19]


def clock_or_date(ms_value: int, now_ms: int) -> str:
    """HH:MM:SS (UTC) for a time today, MM-DD HH:MM:SS for an older one (a 7-day list spans days)."""
    if ms_value // MS_PER_DAY == now_ms // MS_PER_DAY:
        return clock(ms_value)
    return format_ms(ms_value)[5:19].replace("T", " ")


def stamp(ms_value: int | None) -> str:
    """YYYY-MM-DD HH:MM:SS (UTC)."""
    return "-" if ms_value is None else format_ms(ms_value)[:19].replace("T", " ")


def status(code: int | None, outcome: str, error: str | None, width: int | None = None) -> Text:
    """The status code, or the error when no response came; `width` cuts a long error with "…" (tables show
    it whole on the event screen)."""
    if code is not None:
        return Text(str(code), style="green" if 200 <= code < 300 else "bold red")
    text = plain(error or outcome)
    return Text(text if width is None else cut(text, width), style="red")


def cut(text: str, width: int) -> str:
    """`text` as it is when it fits `width`, else its start ending in "…"."""
    return text if len(text) <= width else text[: width - 1] + "…"


def health(first: float | None, final: float | None, undelivered: int) -> Text:
    """A mark for an endpoint: green when healthy, yellow when retries carry it, red when deliveries fail."""
    if first is None and final is None:  # nothing tried in the window: red when its backlog is older
        return Text("●", style="bold red") if undelivered else Text("○", style="dim")
    if undelivered and (final or 0) < 0.99:
        return Text("●", style="bold red")
    if (first or 0) < 0.97 or (final or 0) < 0.999:
        return Text("●", style="bold yellow")
    return Text("●", style="bold green")
