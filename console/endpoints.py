"""endpoints.toml: read, validate and resolve secret references (`env:NAME`, `file:PATH`).

Every problem names the file, the endpoint and the key; no message ever holds a secret's value.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from console.domain.endpoint import EndpointConfig, Scheme, Secret
from console.domain.urls import mask_url

REQUIRED_KEYS = ("id", "url", "scheme", "secret")
OPTIONAL_KEYS = ("name", "timeout_s", "max_in_flight", "rate_per_s", "max_tries", "enabled")


class EndpointsError(Exception):
    """endpoints.toml cannot be used; `problems` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EndpointsError(
            [f"{path}: no such endpoints file (use --endpoints or HOOKCONSOLE_ENDPOINTS)"]
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EndpointsError([f"{path}: not valid TOML: {exc}"]) from None
    problems: list[str] = []
    unknown_top = sorted(set(raw) - {"endpoint"})
    for key in unknown_top:
        problems.append(f"{path}: unknown top-level key {key!r} (expected [[endpoint]] tables)")
    tables = raw.get("endpoint", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise EndpointsError([*problems, f"{path}: 'endpoint' must be an array of tables ([[endpoint]])"])
    endpoints: list[EndpointConfig] = []
    seen: set[str] = set()
    for index, table in enumerate(tables, start=1):
        where = f"{path}: endpoint #{index}"
        if isinstance(table.get("id"), str) and table["id"]:
            where = f"{path}: endpoint {table['id']!r}"
        parsed = _parse_endpoint(table, where, problems)
        if parsed is None:
            continue
        if parsed.id in seen:
            problems.append(f"{where}: id: duplicate id (each endpoint id must be unique)")
            continue
        seen.add(parsed.id)
        endpoints.append(parsed)
    if problems:
        raise EndpointsError(problems)
    return EndpointsFile(path=path, endpoints=tuple(endpoints))


def _parse_endpoint(table: Mapping[str, Any], where: str, problems: list[str]) -> EndpointConfig | None:
    before = len(problems)
    for key in sorted(set(table) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)):
        problems.append(f"{where}: unknown key {key!r} (known: {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)})")
    for key in REQUIRED_KEYS:
        if key not in table:
            problems.append(f"{where}: {key}: missing (required)")
    endpoint_id = table.get("id")
    if "id" in table and (not isinstance(endpoint_id, str) or not endpoint_id.strip()):
        problems.append(f"{where}: id: must be a non-empty string")
    url = table.get("url")
    if "url" in table:
        reason = url_problem(url)
        if reason:
            problems.append(f"{where}: url: {reason}")
    scheme = table.get("scheme")
    if "scheme" in table and scheme not in {s.value for s in Scheme}:
        problems.append(f"{where}: scheme: unknown scheme {scheme!r} (standard, stripe, github or convoy)")
    refs = table.get("secret")
    ref_list: list[str] = []
    if "secret" in table:
        ref_list = [refs] if isinstance(refs, str) else list(refs) if isinstance(refs, list) else []
        if not ref_list or not all(isinstance(r, str) for r in ref_list):
            problems.append(
                f"{where}: secret: must be a reference string or a list of them (env:NAME or file:PATH)"
            )
            ref_list = []
        for ref in ref_list:
            if not ref.startswith(("env:", "file:")) or len(ref.split(":", 1)[1]) == 0:
                problems.append(
                    f"{where}: secret: must be a reference like env:NAME or file:PATH, not the secret itself"
                )
                break
    options = {
        "timeout_s": (float, 0.001, 600.0),
        "max_in_flight": (int, 1, 10_000),
        "rate_per_s": (float, 0.001, 1_000_000.0),
        "max_tries": (int, 1, 100),
    }
    values: dict[str, Any] = {}
    for key, (kind, low, high) in options.items():
        if key not in table:
            continue
        value = table[key]
        ok_type = isinstance(value, int) and not isinstance(value, bool)
        if kind is float:
            ok_type = ok_type or isinstance(value, float)
        if not ok_type or not (low <= value <= high):
            noun = "an integer" if kind is int else "a number"
            problems.append(f"{where}: {key}: must be {noun} between {low:g} and {high:g}, got {value!r}")
        else:
            values[key] = kind(value)
    if "name" in table and not isinstance(table["name"], str):
        problems.append(f"{where}: name: must be a string")
    if "enabled" in table and not isinstance(table["enabled"], bool):
        problems.append(f"{where}: enabled: must be true or false")
    if len(problems) > before:
        return None
    return EndpointConfig(
        id=str(endpoint_id),
        url=str(url),
        scheme=Scheme(str(scheme)),
        secret_refs=tuple(ref_list),
        name=table.get("name"),
        enabled=table.get("enabled", True),
        **values,
    )


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


def resolve_secret(ref: str, base_dir: Path, env: Mapping[str, str] | None = None) -> Secret:
    """Resolve `env:NAME` or `file:PATH` (relative to the endpoints file). Errors name the reference only."""
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
            value = file.read_text(encoding="utf-8").strip()
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
