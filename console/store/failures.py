"""Database failures as one line that names the store: no SQLAlchemy internals, no SQL, no password."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, PendingRollbackError, SQLAlchemyError

from console.domain.urls import redact
from console.store.engine import describe_url

# Fragments of driver messages and what they mean to an operator; SQLite's own words add nothing to the first
# five, the server's words (after the meaning, in brackets) say why it ended the connection.
_SAID_ALL = (
    (
        "database or disk is full",
        "the disk is full or the store reached its size limit (database or disk is full)",
    ),
    ("file is not a database", "the file is not a SQLite database (corrupt, or some other file)"),
    ("database disk image is malformed", "the SQLite file is corrupt (database disk image is malformed)"),
    ("attempt to write a readonly database", "the store is read-only here"),
    ("unable to open database file", "the file cannot be opened (missing, or no permission)"),
)
_HINTS = (
    ("terminating connection", "the server ended the connection"),
    ("server closed the connection", "the connection to the server was lost"),
    ("connection is closed", "the connection to the server was lost"),
    ("consuming input failed", "the connection to the server was lost"),
)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def reason(exc: BaseException, url: str) -> str:
    """Why a database call failed, in one line without the SQL or any credential of `url`."""
    if isinstance(exc, PendingRollbackError):
        text = "the connection was lost in the middle of a transaction"
    elif isinstance(exc, DBAPIError) and exc.orig is not None:
        text = _first_line(str(exc.orig)) or type(exc.orig).__name__
    else:
        text = _first_line(str(exc).split("[SQL:", 1)[0]) or type(exc).__name__
    lowered = text.lower()
    said = next((meaning for fragment, meaning in _SAID_ALL if fragment in lowered), None)
    if said is not None:
        return said
    hint = next((meaning for fragment, meaning in _HINTS if fragment in lowered), None)
    if hint is None and isinstance(exc, DBAPIError) and exc.connection_invalidated:
        hint = "the connection to the store was lost"
    return redact(f"{hint} ({text})" if hint else text, url)


def one_line(exc: BaseException, url: str) -> str:
    """What failed, in one line for a job note or an item's error: a database failure as `store write failed:
    <reason>` (never its SQL, its parameters, which can hold payloads, or a traceback), anything else as
    `Type: first line`."""
    if isinstance(exc, SQLAlchemyError):
        verb = (getattr(exc, "statement", None) or "").lstrip().partition(" ")[0].upper()
        action = "read " if verb in ("SELECT", "WITH") else "write " if verb else ""
        return f"store {action}failed: {reason(exc, url)}"
    text = _first_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_failure(exc: BaseException, url: str) -> str | None:
    """'store URL: <reason>' for a database failure, or None when `exc` is not one."""
    if not isinstance(exc, SQLAlchemyError):
        return None
    return f"store {describe_url(url)}: {reason(exc, url)}"
