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


# Tried in order; the words are those of the error texts the senders really write (tests/test_source_truth.py):
# Go's net/http as Convoy stores it (`Post "https://x": context deadline exceeded`, `dial tcp 1.2.3.4:443:
# connect: connection refused`, `dial tcp: lookup x on 10.0.0.2:53: no such host`), Svix's reqwest/hyper
# texts (`error resolving name: ...`, `error making request: client error (Connect)`), and httpx's.
_KIND_WORDS: tuple[tuple[ErrorKind, tuple[str, ...]], ...] = (
    (ErrorKind.TIMEOUT, ("timeout", "timed out", "deadline exceeded")),
    (
        ErrorKind.DNS,
        (
            "no such host",
            "lookup ",
            "resolving name",
            "resolve",
            "dns",
            "name or service not known",
            "nodename",
            "getaddrinfo",
            "temporary failure in name resolution",
        ),
    ),
    (ErrorKind.TLS, ("tls", "ssl", "x509", "certificate", "handshake")),
    (ErrorKind.CONNECTION_REFUSED, ("refused", "client error (connect)", "connect error")),
    (
        ErrorKind.CONNECTION_RESET,
        (
            "reset",
            "broken pipe",
            "remote end closed",
            "disconnected",
            "eof",
            "connection closed",
            "client error (sendrequest)",
            "client error (canceled)",
        ),
    ),
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
