"""An endpoint as configured in endpoints.toml, and a secret value that never prints itself."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scheme(StrEnum):
    """Signature schemes a receiver can verify (docs/replay.md, Signing)."""

    STANDARD = "standard"
    STRIPE = "stripe"
    GITHUB = "github"
    CONVOY = "convoy"


CONVOY_HEADER = "X-Convoy-Signature"
CONVOY_HASHES = ("SHA256", "SHA512")  # what Convoy's signer supports (pkg/signature)
CONVOY_ENCODINGS = ("hex", "base64")


@dataclass(frozen=True)
class ConvoySigning:
    """How Convoy signs for one endpoint: its project's signature header and versions, each a (hash, encoding)
    in the project's order (v1, v2, ...), and the endpoint's form: advanced (`t=<ts>,v1=...`) or simple."""

    header: str = CONVOY_HEADER
    advanced: bool = True
    versions: tuple[tuple[str, str], ...] = (("SHA256", "hex"),)


@dataclass(frozen=True)
class EndpointConfig:
    """One `[[endpoint]]` of endpoints.toml. `secret_refs` are references (`env:NAME`, `file:PATH`), never values."""

    id: str
    url: str
    scheme: Scheme
    secret_refs: tuple[str, ...]
    name: str | None = None
    timeout_s: float = 10.0
    max_in_flight: int | None = None  # None: only the replay's global concurrency applies
    rate_per_s: float | None = None
    max_tries: int = 5
    enabled: bool = True
    convoy: ConvoySigning = ConvoySigning()  # the convoy scheme only

    @property
    def label(self) -> str:
        return self.name or self.id


class Secret:
    """A resolved secret. Its repr and str are masked so it cannot leak into logs or errors by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for signing only."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
