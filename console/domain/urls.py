"""URLs as they may be shown: every credential masked (store, source, endpoint and target URLs alike).

A URL can carry a secret in its userinfo (`user:PASSWORD@host`) and in query or fragment parameters
(`?password=…`, `?token=…`, `#access_token=…`). In an http(s) URL the whole userinfo is a credential: a client
sends it as Basic auth, and `https://TOKEN@host` puts a token where the user name goes. A database URL's user
name is a role name and stays visible. `mask_url` replaces each credential with `***` and leaves the rest of
the text exactly as it was; it never raises, whatever the input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"
# A parameter whose name (lower case, letters and digits only) contains one of these holds a credential.
SENSITIVE_NAME_PARTS = ("pass", "pwd", "token", "secret", "key", "sig", "auth", "credential", "cookie")
_PARAM_SEPARATORS = re.compile(r"([&;])")


def is_sensitive_name(name: str) -> bool:
    """True for parameter names like password, token, api_key, apiKey, X-Api-Key, sig, client_secret."""
    plain = re.sub(r"[^a-z0-9]", "", unquote(name).lower())
    return any(part in plain for part in SENSITIVE_NAME_PARTS)


def _split(url: str) -> tuple[str, str, str, str, str, str, str]:
    """`scheme://`, authority, `/path`, `?`, query, `#`, fragment (a URL without `://` is all path)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    rest, hash_sign, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    authority, slash, path = rest.partition("/") if sep else ("", "", rest)
    return scheme + sep, authority, slash + path, question, query, hash_sign, fragment


def _is_web(head: str) -> bool:
    """True for `http://` and `https://` (and their WebSocket twins): every part of their userinfo is secret."""
    return head.lower() in ("http://", "https://", "ws://", "wss://")


def _password(authority: str) -> str:
    """The password in `user:password@host`; empty when there is none."""
    userinfo, at, _ = authority.rpartition("@")
    _, colon, password = userinfo.partition(":")
    return password if at and colon else ""


def _userinfo_secrets(head: str, authority: str) -> list[str]:
    """What the userinfo holds that must not be shown: all of it in a web URL, else the password."""
    userinfo, at, _ = authority.rpartition("@")
    if at and _is_web(head):
        return [part for part in (userinfo, *userinfo.split(":", 1)) if part]
    return [_password(authority)] if _password(authority) else []


def _sensitive_values(params: str) -> list[tuple[int, str, str]]:
    """(index, name, value) of each credential-like `name=value` among the pieces of `_PARAM_SEPARATORS.split`."""
    found = []
    for index, piece in enumerate(_PARAM_SEPARATORS.split(params)):
        name, equals, value = piece.partition("=")
        if equals and value and is_sensitive_name(name):
            found.append((index, name, value))
    return found


def _mask_params(text: str) -> str:
    pieces = _PARAM_SEPARATORS.split(text)
    for index, name, _ in _sensitive_values(text):
        pieces[index] = f"{name}={MASK}"
    return "".join(pieces)


def _mask_userinfo(head: str, authority: str) -> str:
    userinfo, at, host = authority.rpartition("@")
    if at and userinfo and _is_web(head):
        return f"{MASK}@{host}"
    if not _password(authority):
        return authority
    return f"{userinfo.partition(':')[0]}:{MASK}@{host}"


def mask_url(url: str) -> str:
    """The URL with the credentials in its userinfo and every credential-like parameter value replaced by ***."""
    head, authority, path, question, query, hash_sign, fragment = _split(url)
    masked = f"{head}{_mask_userinfo(head, authority)}{path}"
    if question:
        masked += "?" + _mask_params(query)
    if hash_sign:
        masked += "#" + _mask_params(fragment)
    return masked


def url_secrets(url: str) -> list[str]:
    """The credential values a URL holds (raw and percent-decoded), longest first: what must never be shown."""
    head, authority, _, _, query, _, fragment = _split(url)
    found = {value for params in (query, fragment) for _, _, value in _sensitive_values(params)}
    found.update(_userinfo_secrets(head, authority))
    found |= {unquote(v) for v in found}
    return sorted((v for v in found if v), key=len, reverse=True)


def has_credentials(url: str) -> bool:
    """True when the URL carries a credential that `mask_url` would hide (a request to it would send it)."""
    return bool(url_secrets(url))


def redact_values(text: str, secrets: Iterable[str]) -> str:
    """`text` with each of `secrets` (longest first, so a secret inside another goes too) replaced by ***."""
    for secret in sorted((s for s in set(secrets) if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact(text: str, url: str) -> str:
    """`text` (an error message, say) with every credential of `url` replaced by ***."""
    return redact_values(text, url_secrets(url))
