"""endpoints.toml: read, validate and resolve secret references (`env:NAME`, `file:PATH`).

Every problem names the file, the endpoint and the key; no message ever holds a secret's value.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from console.domain.endpoint import (
    CONVOY_ENCODINGS,
    CONVOY_HASHES,
    ConvoySigning,
    EndpointConfig,
    Scheme,
    Secret,
)
from console.domain.urls import mask_url
from console.tomlconfig import (
    NOT_A_REF,
    ConfigError,
    NotRegularFile,
    Problems,
    TooLarge,
    is_secret_ref,
    parse_tables,
    read_capped,
    read_toml,
    unknown_sections,
)

MAX_SECRET_BYTES = 64 * 1024  # a secret file holds one secret (a key, a token): a line of text


def url_problem(url: object) -> str | None:
    """Why a URL cannot be an endpoint URL, or None when it can (the URL is shown with credentials masked)."""
    if not isinstance(url, str) or not url:
        return "must be a non-empty string"
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return f"is not a valid URL (check the host and port): {shown!r}"
    if parts.scheme not in ("http", "https"):
        return f"must be an http(s) URL, got {shown!r}"
    if not host:
        return f"has no host: {shown!r}"
    if parts.scheme == "http" and not is_loopback(host):
        return f"plain http is only allowed to loopback addresses, got {shown!r} (use https)"
    return None


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP addresses."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class EndpointsError(ConfigError):
    """endpoints.toml cannot be used; `problems` lists every reason, one line each."""


@dataclass(frozen=True)
class Key:
    """One key of an `[[endpoint]]` table: `check` says why a value is wrong (None when it is right) and
    `convert` turns a right value into the `EndpointConfig` field `field` (by default the key's name)."""

    name: str
    check: Callable[[Any], str | None]
    required: bool = False
    convert: Callable[[Any], Any] = lambda value: value
    field: str = ""


def _non_empty_string(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _scheme(value: Any) -> str | None:
    if value in {s.value for s in Scheme}:
        return None
    return f"unknown scheme {value!r} (standard, stripe, github or convoy)"


def _secret_refs(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _secret(value: Any) -> str | None:
    refs = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    if not refs or not all(isinstance(r, str) for r in refs):
        return "must be a reference string or a list of them (env:NAME or file:PATH)"
    if not all(is_secret_ref(r) for r in refs):
        return NOT_A_REF
    return None


def _between(kind: type, low: float, high: float) -> Callable[[Any], str | None]:
    noun = "an integer" if kind is int else "a number"

    def check(value: Any) -> str | None:
        ok_type = isinstance(value, int) and not isinstance(value, bool)
        if kind is float:
            ok_type = ok_type or isinstance(value, float)
        if ok_type and low <= value <= high:
            return None
        return f"must be {noun} between {low:g} and {high:g}, got {value!r}"

    return check


def _of_type(kind: type, reason: str) -> Callable[[Any], str | None]:
    return lambda value: None if isinstance(value, kind) else reason


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")  # an HTTP header name (RFC 9110 token)
_OWN_HEADERS = ("content-type", "content-length", "host", "x-convoy-idempotency-key")  # set by the sender


def header_problem(value: Any) -> str | None:
    """Why a value cannot be the name of Convoy's signature header, or None when it can."""
    if not isinstance(value, str) or not _TOKEN.match(value):
        return f"must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~), got {value!r}"
    if value.lower() in _OWN_HEADERS:
        return f"{value!r} is a header the sender sets itself; name the signature header"
    return None


def convoy_versions_problem(value: Any) -> str | None:
    """Why a value cannot be `convoy_versions` (Convoy's signature versions, in order), or None when it can."""
    shape = 'must be a non-empty list of { hash = "SHA256" or "SHA512", encoding = "hex" or "base64" }'
    if not isinstance(value, list) or not value:
        return shape
    for number, version in enumerate(value, start=1):
        if not isinstance(version, dict):
            return f"{shape}; version {number} is not a table"
        unknown = sorted(set(version) - {"hash", "encoding"})
        if unknown:
            return f"version {number}: unknown key {unknown[0]!r} (known: hash, encoding)"
        if version.get("hash") not in CONVOY_HASHES:
            return f"version {number}: hash must be SHA256 or SHA512 (Convoy signs with no other), got {version.get('hash')!r}"
        if version.get("encoding") not in CONVOY_ENCODINGS:
            return f"version {number}: encoding must be hex or base64, got {version.get('encoding')!r}"
    return None


def _versions(value: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((v["hash"], v["encoding"]) for v in value)


# The keys of an `[[endpoint]]` table, in the order their problems are reported.
KEYS = (
    Key("id", _non_empty_string, required=True),
    Key("url", url_problem, required=True),
    Key("scheme", _scheme, required=True, convert=Scheme),
    Key("secret", _secret, required=True, convert=_secret_refs, field="secret_refs"),
    Key("name", _of_type(str, "must be a string")),
    Key("timeout_s", _between(float, 0.001, 600.0), convert=float),
    Key("max_in_flight", _between(int, 1, 10_000)),
    Key("rate_per_s", _between(float, 0.001, 1_000_000.0), convert=float),
    Key("max_tries", _between(int, 1, 100)),
    Key("enabled", _of_type(bool, "must be true or false")),
    # How Convoy signs (scheme = "convoy" only): its project's header and versions, the endpoint's form.
    Key("convoy_header", header_problem, field="header"),
    Key(
        "convoy_advanced",
        _of_type(bool, "must be true (t=...,v1=...) or false (Convoy's simple form)"),
        field="advanced",
    ),
    Key("convoy_versions", convoy_versions_problem, convert=_versions, field="versions"),
)
KEY_NAMES = tuple(k.name for k in KEYS)
CONVOY_KEYS = ("convoy_header", "convoy_advanced", "convoy_versions")


@dataclass(frozen=True)
class EndpointsFile:
    """The endpoints of one configuration file, in file order."""

    path: Path
    endpoints: tuple[EndpointConfig, ...]

    def get(self, endpoint_id: str) -> EndpointConfig | None:
        return next((e for e in self.endpoints if e.id == endpoint_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in self.endpoints)


def load_endpoints(path: Path | str) -> EndpointsFile:
    """Parse and validate the structure of endpoints.toml (secrets are not resolved here)."""
    path = Path(path)
    raw = read_toml(path, EndpointsError, "no such endpoints file (use --endpoints or HOOKCONSOLE_ENDPOINTS)")
    problems = unknown_sections(raw, str(path), ("endpoint",))
    endpoints = parse_tables(raw, str(path), "endpoint", "id", _parse_endpoint, problems)
    if problems or endpoints is None:
        raise EndpointsError(problems)
    return EndpointsFile(path=path, endpoints=tuple(endpoints))


def _parse_endpoint(table: Mapping[str, Any], index: int, found: Problems) -> EndpointConfig | None:
    """The endpoint of one table, checked key by key against `KEYS` so that every problem is reported."""
    for key in sorted(set(table) - set(KEY_NAMES)):
        found.lines.append(f"{found.where}: unknown key {key!r} (known: {', '.join(KEY_NAMES)})")
    for spec in KEYS:
        if spec.required and spec.name not in table:
            found.add(spec.name, "missing (required)")
    values: dict[str, Any] = {}
    for spec in KEYS:
        if spec.name not in table:
            continue
        reason = spec.check(table[spec.name])
        if reason:
            found.add(spec.name, reason)
        else:
            values[spec.field or spec.name] = spec.convert(table[spec.name])
    scheme = table.get("scheme")
    for key in CONVOY_KEYS:
        if key in table and scheme != Scheme.CONVOY.value and not _scheme(scheme):
            found.add(key, f'only for scheme = "convoy" (this endpoint\'s scheme is {scheme!r})')
    if found.lines:
        return None
    convoy = {name: values.pop(name) for name in ("header", "advanced", "versions") if name in values}
    return EndpointConfig(**values, convoy=ConvoySigning(**convoy))


def resolve_secret(ref: str, base_dir: Path, env: Mapping[str, str] | None = None) -> Secret:
    """Resolve `env:NAME` or `file:PATH` (relative to the endpoints file). Errors name the reference only.
    A secret file must be a regular file of at most MAX_SECRET_BYTES."""
    env = os.environ if env is None else env
    kind, _, target = ref.partition(":")
    if kind == "env":
        value = env.get(target)
        if value is None or not value.strip():
            raise LookupError(f"environment variable {target} is not set")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes in the environment arrive as lone surrogates
            raise LookupError(f"environment variable {target}: not UTF-8") from None
        return Secret(value.strip())
    if kind == "file":
        file = Path(target)
        if not file.is_absolute():
            file = base_dir / file
        try:
            value = read_capped(file, MAX_SECRET_BYTES, regular_only=True).decode("utf-8").strip()
        except TooLarge as exc:
            raise LookupError(f"secret file {file} {exc} (a secret file holds one secret)") from None
        except NotRegularFile as exc:
            raise LookupError(f"secret file {file} {exc}") from None
        except OSError as exc:
            raise LookupError(f"secret file {file} cannot be read ({exc.strerror or exc})") from None
        except UnicodeDecodeError:  # its message quotes a byte of the secret: never show it
            raise LookupError(f"secret file {file}: not UTF-8") from None
        if not value:
            raise LookupError(f"secret file {file} is empty")
        return Secret(value)
    raise LookupError(f"secret reference must start with env: or file:, got a reference of kind {kind!r}")


def resolve_secrets(
    endpoint: EndpointConfig, base_dir: Path, env: Mapping[str, str] | None = None
) -> list[Secret]:
    """All secrets of an endpoint, checked for the scheme's format; raises LookupError naming the endpoint."""
    secrets: list[Secret] = []
    for ref in endpoint.secret_refs:
        try:
            secret = resolve_secret(ref, base_dir, env)
        except LookupError as exc:
            raise LookupError(f"endpoint {endpoint.id!r}: secret {ref}: {exc}") from None
        problem = secret_format_problem(endpoint.scheme, secret)
        if problem:
            raise LookupError(f"endpoint {endpoint.id!r}: secret {ref}: {problem}")
        secrets.append(secret)
    return secrets


def secret_format_problem(scheme: Scheme, secret: Secret) -> str | None:
    """Why a secret cannot sign for a scheme (the message never includes the value)."""
    if scheme is not Scheme.STANDARD:
        return None
    value = secret.reveal()
    if not value.startswith("whsec_"):
        return "a standard-scheme secret must start with whsec_ followed by base64"
    try:
        key = base64.b64decode(value[len("whsec_") :], validate=True)
    except (binascii.Error, ValueError):
        return "the part after whsec_ is not valid base64"
    if not 24 <= len(key) <= 64:
        return f"the decoded key is {len(key)} bytes; Standard Webhooks keys are 24 to 64 bytes"
    return None


def check_endpoints_file(
    path: Path | str, env: Mapping[str, str] | None = None
) -> tuple[EndpointsFile | None, list[str]]:
    """Everything `endpoints check` reports: structure problems, then secrets that do not resolve."""
    try:
        config = load_endpoints(path)
    except EndpointsError as exc:
        return None, exc.problems
    problems: list[str] = []
    for endpoint in config.endpoints:
        try:
            resolve_secrets(endpoint, config.path.parent, env)
        except LookupError as exc:
            problems.append(f"{config.path}: {exc}")
    return config, problems
