"""Source URLs: `svix+postgresql://USER@HOST:PORT/DB?app=...&schema=...` and `convoy+postgresql://...?project=...`.

Credentials (the password, and query parameters whose names say they hold one: `sslpassword`, `passfile`,
`sslkey`, anything with `pass`, `token`, `secret`, `key`, ...) never leave this module except inside the libpq
connection string: what is printed shows them as `***`, and what keys the cursor is the URL without them (so a
changed password does not start a source over).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

from console.domain.payload_fields import FIELD_KEYS, FieldPaths
from console.domain.times import bounded_duration_ms
from console.domain.urls import is_sensitive_name, mask_url, redact_values, url_secrets
from console.ingest.log_files import SourceError

KINDS = ("svix", "convoy")
# Options of ours; any other query parameter (sslmode, connect_timeout, ...) goes to libpq as it is.
_COMMON = ("org", "schema", "window", *(f"payload.{name}" for name in FIELD_KEYS))
OPTIONS = {"svix": ("app", *_COMMON), "convoy": ("project", *_COMMON)}
DEFAULT_SCHEMA = {"svix": "public", "convoy": "convoy"}
_SCHEMES = tuple(f"{kind}+{db}://" for kind in KINDS for db in ("postgresql", "postgres"))
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


def is_source_url(text: str) -> bool:
    """True when `text` names a dispatcher database rather than a log file."""
    return text.lower().startswith(_SCHEMES)


@dataclass(frozen=True)
class SourceURL:
    """A parsed source URL. `conninfo` holds the credentials (for connecting only); `display` never does."""

    kind: str
    conninfo: str = field(repr=False)
    display: str
    options: dict[str, str]
    secrets: tuple[str, ...] = field(default=(), repr=False)  # what `mask` blanks out, as given and encoded
    cursor_key: str = ""
    legacy_key: str = field(default="", repr=False)  # the key older versions kept it under, when it differs
    window_ms: int | None = None  # `window=`: how long after its start a row may commit (None: the default)
    field_paths: FieldPaths = field(default_factory=FieldPaths)  # `payload.reward=data.reward.id`, ...

    @property
    def schema(self) -> str:
        return self.options.get("schema") or DEFAULT_SCHEMA[self.kind]

    @property
    def key(self) -> str:
        """What the cursor is kept under: the URL without credentials, options sorted, less the options that
        do not change which rows are read (`window=`, `payload.*=`)."""
        return self.cursor_key or self.display

    def mask(self, text: str) -> str:
        """`text` with every credential of the URL (password, `sslpassword=`, ...) shown as ***."""
        return redact_values(text, self.secrets)


def parse_source_url(text: str) -> SourceURL:
    """Parse a source URL; SourceError names what is wrong (never a credential)."""
    if not is_source_url(text):
        raise SourceError(
            "not a source URL: expected svix+postgresql://USER@HOST:PORT/DB or convoy+postgresql://USER@HOST:PORT/DB"
        )
    kind, _, rest = text.partition("+")
    kind = kind.lower()
    parts = urlsplit("postgresql" + rest[rest.index("://") :])
    try:
        port = parts.port
    except ValueError:
        raise SourceError(f"{kind} source URL: the port is not a number") from None
    host = parts.hostname or ""
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise SourceError(f"{kind} source URL: no database name (…://USER@HOST:PORT/DATABASE)")
    ours: dict[str, str] = {}
    passthrough: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in OPTIONS[kind]:
            if not value:
                raise SourceError(f"{kind} source URL: option {name}= is empty")
            ours[name] = value
        elif name in ("app", "project") or name in _COMMON or name.startswith("payload."):
            raise SourceError(
                f"{kind} source URL: unknown option {name}= (a {kind} source takes {', '.join(OPTIONS[kind])})"
            )
        elif name == "password":
            raise SourceError(
                f"{kind} source URL: put no password in the URL query; use PGPASSWORD or ~/.pgpass"
            )
        else:
            passthrough.append((name, value))
    window_ms, paths = _read_options(kind, ours)
    schema = ours.get("schema")
    if schema is not None and not _IDENTIFIER.match(schema):
        raise SourceError(f"{kind} source URL: schema={schema!r} is not a plain identifier")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    netloc = ""
    if user:
        netloc = quote(user, safe="") + "@"
    netloc += f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = "/" + quote(database, safe="")
    display = mask_url(
        urlunsplit(
            (f"{kind}+postgresql", netloc, path, urlencode(sorted(ours.items()) + sorted(passthrough)), "")
        )
    )
    scoping = sorted((k, v) for k, v in ours.items() if k in ("app", "project", "org", "schema"))
    plain = [(k, v) for k, v in sorted(passthrough) if not is_sensitive_name(k)]
    cursor_key = urlunsplit((f"{kind}+postgresql", netloc, path, urlencode(scoping + plain), ""))
    legacy_key = urlunsplit(
        (f"{kind}+postgresql", netloc, path, urlencode(scoping + sorted(passthrough)), "")
    )
    secret_netloc = netloc
    if password is not None:
        head = quote(user or "", safe="") + ":" + quote(password, safe="") + "@"
        secret_netloc = head + netloc.split("@", 1)[-1]
    conninfo = urlunsplit(("postgresql", secret_netloc, path, urlencode(passthrough), ""))
    secrets = [password or ""] + [v for k, v in passthrough if is_sensitive_name(k)]
    spelled = {form for s in secrets if s for form in (s, quote(s, safe=""), quote_plus(s, safe=""))}
    spelled.update(url_secrets(text))  # as typed
    return SourceURL(
        kind,
        conninfo,
        display,
        ours,
        tuple(spelled),
        cursor_key,
        legacy_key if legacy_key != cursor_key else "",
        window_ms,
        paths,
    )


MAX_WINDOW_MS = 3_600_000


def _read_options(kind: str, options: dict[str, str]) -> tuple[int | None, FieldPaths]:
    """`window=` in ms and the payload field paths; SourceError names an option whose value cannot be used."""
    window: int | None = None
    if "window" in options:
        try:
            window = bounded_duration_ms(options["window"], MAX_WINDOW_MS)
        except ValueError as exc:
            raise SourceError(f"{kind} source URL: window=: {exc}") from None
    paths = FieldPaths()
    for name in FIELD_KEYS:
        path = options.get(f"payload.{name}")
        if path is not None:
            try:
                paths = paths.with_path(name, path)
            except ValueError as exc:
                raise SourceError(f"{kind} source URL: {exc}") from None
    return window, paths
