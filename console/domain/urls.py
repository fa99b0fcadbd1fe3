"""URLs as they may be shown: every credential masked (store URLs and endpoint URLs alike).

A URL can carry a secret in its userinfo (`user:PASSWORD@host`) and in query or fragment parameters
(`?password=…`, `?token=…`, `#access_token=…`). `mask_url` replaces each such value with `***` and leaves the
rest of the text exactly as it was; it never raises, whatever the input.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"
# A parameter whose name (lower case, letters and digits only) contains one of these holds a credential.
SENSITIVE_NAME_PARTS = ("pass", "pwd", "token", "secret", "key", "sig", "auth", "credential", "cookie")
_PARAM_SEPARATORS = re.compile(r"([&;])")


def is_sensitive_name(name: str) -> bool:
    """True for parameter names like password, token, api_key, apiKey, X-Api-Key, sig, client_secret."""
    plain = re.sub(r"[^a-z0-9]", "", unquote(name).lower())
    return any(part in plain for part in SENSITIVE_NAME_PARTS)


def _mask_params(text: str) -> str:
    pieces = _PARAM_SEPARATORS.split(text)
    for index, piece in enumerate(pieces):
        name, equals, value = piece.partition("=")
        if equals and value and is_sensitive_name(name):
            pieces[index] = f"{name}={MASK}"
    return "".join(pieces)


def _mask_userinfo(authority: str) -> str:
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return authority
    user, colon, password = userinfo.partition(":")
    return f"{user}:{MASK}@{host}" if colon and password else authority


def mask_url(url: str) -> str:
    """The URL with the password in its userinfo and every credential-like parameter value replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    rest, hash_sign, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    if sep:
        authority, slash, path = rest.partition("/")
        rest = _mask_userinfo(authority) + slash + path
    masked = f"{scheme}{sep}{rest}"
    if question:
        masked += "?" + _mask_params(query)
    if hash_sign:
        masked += "#" + _mask_params(fragment)
    return masked


def url_secrets(url: str) -> list[str]:
    """The credential values a URL holds (raw and percent-decoded), longest first: what must never be shown."""
    found: set[str] = set()
    _, sep, rest = url.partition("://")
    rest = rest if sep else url
    without_fragment, _, fragment = rest.partition("#")
    before_query, _, query = without_fragment.partition("?")
    if sep:
        userinfo, at, _ = before_query.partition("/")[0].rpartition("@")
        if at and ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    for params in (query, fragment):
        for piece in _PARAM_SEPARATORS.split(params):
            name, equals, value = piece.partition("=")
            if equals and value and is_sensitive_name(name):
                found.add(value)
    found |= {unquote(v) for v in found}
    return sorted((v for v in found if v), key=len, reverse=True)


def redact(text: str, url: str) -> str:
    """`text` (an error message, say) with every credential of `url` replaced by ***."""
    for secret in url_secrets(url):
        text = text.replace(secret, MASK)
    return text
