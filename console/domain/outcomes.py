"""What an attempt ended as, what started it, and what kind of error it met."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """The result of one HTTP delivery attempt (a 3xx counts as an HTTP error: redirects are not followed)."""

    SUCCESS = "success"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    NETWORK_ERROR = "network_error"


class Trigger(StrEnum):
    """Who started an attempt: the dispatcher's schedule or an operator's replay."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"


class ErrorKind(StrEnum):
    """A coarse class of transport error, for failure breakdowns."""

    NONE = ""
    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"
    DNS = "dns"
    TLS = "tls"
    OTHER = "other"


def classify_outcome(status_code: int | None, error: str | None) -> Outcome:
    """Derive an outcome: a status code is success (2xx) or an HTTP error; without one, a timeout or network error."""
    if status_code is not None:
        return Outcome.SUCCESS if 200 <= status_code < 300 else Outcome.HTTP_ERROR
    if error_kind_of(error) is ErrorKind.TIMEOUT:
        return Outcome.TIMEOUT
    return Outcome.NETWORK_ERROR


_KIND_WORDS: tuple[tuple[ErrorKind, tuple[str, ...]], ...] = (
    (ErrorKind.TIMEOUT, ("timeout", "timed out")),
    (ErrorKind.CONNECTION_REFUSED, ("refused",)),
    (ErrorKind.CONNECTION_RESET, ("reset", "broken pipe", "remote end closed", "disconnected", "eof")),
    (ErrorKind.DNS, ("dns", "name or service not known", "nodename", "getaddrinfo", "resolve")),
    (ErrorKind.TLS, ("tls", "ssl", "certificate", "handshake")),
)


def error_kind_of(error: str | None) -> ErrorKind:
    """Map a free-text transport error to an ErrorKind; empty when there is no error."""
    if not error:
        return ErrorKind.NONE
    text = error.lower()
    for kind, words in _KIND_WORDS:
        if any(word in text for word in words):
            return kind
    return ErrorKind.OTHER
