"""Settings from the environment (HOOKCONSOLE_*), overridden by command-line options."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the store and the endpoint configuration live."""

    model_config = SettingsConfigDict(env_prefix="HOOKCONSOLE_", extra="ignore")

    db: str = Field(
        default="sqlite:///hookconsole.db",
        description="Delivery store URL (sqlite:/// or postgresql+psycopg://) or a SQLite file path.",
    )
    endpoints: Path = Field(default=Path("endpoints.toml"), description="The endpoints configuration file.")
