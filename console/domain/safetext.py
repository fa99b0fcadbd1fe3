"""Names from outside (file names, rule names, ids) made safe to write in a log line or a JSON document.

A file name that is not valid UTF-8 arrives (from the command line, `os.fsdecode`) with each bad byte kept as a
lone surrogate, which no UTF-8 writer accepts: it is shown as `\\xNN`. On a text line, control characters
(newline, carriage return, ESC …), line separators and bidi overrides are shown as `\\n`, `\\r`, `\\x1b`,
`\\u202e`, so whatever a name holds it can neither end the line nor drive the terminal.
"""

from __future__ import annotations

import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SURROGATES = re.compile("[\ud800-\udfff]")
# C0, DEL and C1 controls, the line and paragraph separators, bidi marks, embeddings, overrides and isolates.
_UNSAFE_ON_A_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as `surrogateescape` keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def valid_utf8(text: str) -> str:
    """`text` with the bytes that were not UTF-8 (lone surrogates) shown as `\\xNN`: encodable as UTF-8."""
    if text.isascii():
        return text
    return _SURROGATES.sub(_escape, text)


def one_line(text: str) -> str:
    """`text` as one printable line: controls, separators, bidi overrides and bad bytes escaped."""
    if text.isascii() and text.isprintable():  # the common case, checked in C
        return text
    return _UNSAFE_ON_A_LINE.sub(_escape, text)
