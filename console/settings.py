"""Settings from the environment (HOOKCONSOLE_*), overridden by command-line options."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where the store and the endpoint configuration live."""

    db: str = "sqlite:///hookconsole.db"
    """Delivery store URL (sqlite:/// or postgresql+psycopg://) or a SQLite file path (HOOKCONSOLE_DB)."""
    endpoints: Path = Path("endpoints.toml")
    """The endpoints configuration file (HOOKCONSOLE_ENDPOINTS)."""
    read_only: bool = False
    """Look, never send or change: refuse replay, resume, cancel, prune and ingest (HOOKCONSOLE_READ_ONLY=1)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        values = os.environ if env is None else env
        defaults = cls()
        return cls(
            db=values.get("HOOKCONSOLE_DB") or defaults.db,
            endpoints=Path(values.get("HOOKCONSOLE_ENDPOINTS") or defaults.endpoints),
            read_only=values.get("HOOKCONSOLE_READ_ONLY", "").strip().lower() in ("1", "true", "yes", "on"),
        )
