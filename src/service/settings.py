"""One typed settings object, read from the environment once, by the composition root only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_HOLDER_ID_KEY = "development-only-holder-id-key"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sscard"


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sscard"


class PostgresParams(BaseSettings):
    """Where the PostgreSQL store is, from DATABASE_URL or the library's POSTGRES_* variables."""

    model_config = SettingsConfigDict(env_prefix="POSTGRES_", extra="ignore")

    dbname: str
    host: str = "127.0.0.1"
    port: int = 5432
    user: str
    password: SecretStr = SecretStr("")
    db_schema: str | None = Field(default=None, validation_alias="POSTGRES_SCHEMA")

    @classmethod
    def from_url(cls, url: str) -> PostgresParams:
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {parts.scheme}://")
        if not parts.path.strip("/"):
            raise ValueError("DATABASE_URL names no database")
        return cls(
            dbname=unquote(parts.path.lstrip("/")),
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or ""),
            password=SecretStr(unquote(parts.password or "")),
        )

    def dsn(self) -> str:
        options = f" options='-c search_path={self.db_schema}'" if self.db_schema else ""
        return (
            f"host={self.host} port={self.port} dbname={self.dbname} user={self.user} "
            f"password={self.password.get_secret_value()}{options}"
        )


class Settings(BaseSettings):
    """Every knob of the back office. README's configuration table lists the same names."""

    model_config = SettingsConfigDict(env_prefix="SSCARD_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default_factory=_default_data_dir)
    state_dir: Path = Field(default_factory=_default_state_dir)
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "SSCARD_DATABASE_URL")
    )
    # Set by users of the library's own variables (PERSISTENCE_MODULE=eventsourcing.postgres).
    persistence_module: str | None = Field(
        default=None, validation_alias=AliasChoices("PERSISTENCE_MODULE")
    )
    postgres_schema: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        validation_alias=AliasChoices("POSTGRES_SCHEMA", "SSCARD_POSTGRES_SCHEMA"),
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "SSCARD_KAFKA_BOOTSTRAP_SERVERS"),
    )
    kafka_partitions: int = Field(default=3, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    topic_prefix: str = Field(default="sscard", pattern=r"^[a-z][a-z0-9_-]{0,30}$")
    holder_id_key: SecretStr = SecretStr(DEVELOPMENT_HOLDER_ID_KEY)
    region_policies: Path | None = None
    hospital_registry: Path | None = None
    lapse_check_seconds: float = Field(default=30.0, gt=0)
    aggregate_cache_size: int = Field(default=10_000, ge=0)

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Self:
        key = self.holder_id_key.get_secret_value()
        if self.env == "production" and key == DEVELOPMENT_HOLDER_ID_KEY:
            raise ValueError("SSCARD_HOLDER_ID_KEY must be set to a real secret in production")
        if len(key) < 16:
            raise ValueError("SSCARD_HOLDER_ID_KEY must be at least 16 characters")
        return self

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url) or self.persistence_module == "eventsourcing.postgres"

    def postgres(self) -> PostgresParams:
        if self.database_url:
            params = PostgresParams.from_url(self.database_url)
        else:
            params = PostgresParams()  # fields come from POSTGRES_*
        if self.postgres_schema:
            params = params.model_copy(update={"db_schema": self.postgres_schema})
        return params

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "sscard.sqlite"

    @property
    def views_sqlite_path(self) -> Path:
        """Read models and follower positions. A file of their own: SQLite has one writer per
        file, and sharing it with the event store made every position commit queue behind
        commands (tens of milliseconds of relay latency under load)."""
        return self.data_dir / "views.sqlite"

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def uses_local_kafka(self) -> bool:
        return not self.kafka_bootstrap_servers
