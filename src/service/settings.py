"""One typed settings object, read from the environment once, by the composition root only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import ConfigurationError

DEVELOPMENT_HOLDER_ID_KEY = "development-only-holder-id-key"
DEVELOPMENT_MASTER_KEY = "development-only-master-key-never-in-production"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sscard"


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sscard"


# Field name -> the variable people set (the first alias when there are several).
_VARIABLES = {
    "database_url": "DATABASE_URL",
    "persistence_module": "PERSISTENCE_MODULE",
    "postgres_schema": "POSTGRES_SCHEMA",
    "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "kafka_security_protocol": "KAFKA_SECURITY_PROTOCOL",
    "kafka_sasl_mechanism": "KAFKA_SASL_MECHANISM",
    "kafka_sasl_username": "KAFKA_SASL_USERNAME",
    "kafka_sasl_password": "KAFKA_SASL_PASSWORD",
    "kafka_ssl_cafile": "KAFKA_SSL_CAFILE",
}

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512"]


def variable_of(field: str, prefix: str = "SSCARD_") -> str:
    if field.isupper():  # already the variable's name (a field read through an alias)
        return field
    return _VARIABLES.get(field, prefix + field.upper())


def load_settings() -> Settings:
    """Settings from the environment; a bad value is a ``ConfigurationError`` naming it."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        if not field:  # model-level checks name their variable first
            variable, _, problem = message.partition(" ")
            raise ConfigurationError(variable, problem) from None
        raise ConfigurationError(variable_of(field), f"is invalid: {message}") from None


def kafka_security_problem(settings: Settings) -> str | None:
    """What makes the Kafka security settings half a configuration, the variable named first.

    A half configuration is refused rather than guessed at: credentials with a protocol that
    sends none would connect in the clear without saying so, and a SASL protocol without a
    password fails only at the first connection, deep inside the client."""
    protocol = settings.kafka_security_protocol
    sasl = protocol.startswith("SASL_")
    tls = protocol.endswith("SSL")
    if sasl:
        for variable, value in (
            ("KAFKA_SASL_MECHANISM", settings.kafka_sasl_mechanism),
            ("KAFKA_SASL_USERNAME", settings.kafka_sasl_username),
            ("KAFKA_SASL_PASSWORD", settings.kafka_sasl_password),
        ):
            if value is None:
                return f"{variable} must be set when KAFKA_SECURITY_PROTOCOL={protocol}"
    else:
        for variable, value in (
            ("KAFKA_SASL_MECHANISM", settings.kafka_sasl_mechanism),
            ("KAFKA_SASL_USERNAME", settings.kafka_sasl_username),
            ("KAFKA_SASL_PASSWORD", settings.kafka_sasl_password),
        ):
            if value is not None:
                return (
                    f"{variable} is set but KAFKA_SECURITY_PROTOCOL={protocol} sends no "
                    "credentials: set KAFKA_SECURITY_PROTOCOL=SASL_SSL (or unset the variable)"
                )
    cafile = settings.kafka_ssl_cafile
    if cafile is not None and not tls:
        return (
            f"KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL={protocol} uses no TLS: "
            "set KAFKA_SECURITY_PROTOCOL=SASL_SSL or SSL (or unset the variable)"
        )
    if cafile is not None and not cafile.is_file():
        return f"KAFKA_SSL_CAFILE names {cafile}, which is not a readable file"
    return None


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
        """Parse DATABASE_URL; a malformed one is a ``ConfigurationError`` naming it."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ConfigurationError(
                "DATABASE_URL", "must be postgresql://user:password@host:port/database"
            )
        if not parts.path.strip("/"):
            raise ConfigurationError("DATABASE_URL", "names no database (…/database at the end)")
        if not parts.username:
            raise ConfigurationError("DATABASE_URL", "names no user (postgresql://user@…)")
        try:
            port = parts.port or 5432
        except ValueError:
            raise ConfigurationError("DATABASE_URL", "has a port that is not a number") from None
        return cls(
            dbname=unquote(parts.path.lstrip("/")),
            host=parts.hostname or "127.0.0.1",
            port=port,
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
    # How every Kafka client of ours authenticates and encrypts (the same variables for the
    # settlement subscriber and the Java client). Unset: PLAINTEXT, as the local broker runs.
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL")
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SASL_MECHANISM")
    )
    kafka_sasl_username: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SASL_USERNAME")
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SASL_PASSWORD")
    )
    # PEM file of the CA that signed the brokers' certificates (unset: the system's trust store).
    kafka_ssl_cafile: Path | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SSL_CAFILE")
    )
    kafka_partitions: int = Field(default=3, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    topic_prefix: str = Field(default="sscard", pattern=r"^[a-z][a-z0-9_-]{0,30}$")
    holder_id_key: SecretStr = SecretStr(DEVELOPMENT_HOLDER_ID_KEY)
    # Wraps every holder's data key (personal fields at rest). Keep it out of the store's
    # backups; losing it loses every personal field.
    master_key: SecretStr = SecretStr(DEVELOPMENT_MASTER_KEY)
    # Whether an auditor's --unmasked read may show full ID numbers and names. Unset: allowed
    # in development and test, refused in production.
    allow_unmasked: bool | None = None
    region_policies: Path | None = None
    hospital_registry: Path | None = None
    outlets: Path | None = None
    holiday_calendar: Path | None = None
    postgres_connect_timeout: int = Field(default=5, ge=1, le=60)
    lapse_check_seconds: float = Field(default=30.0, gt=0)
    aggregate_cache_size: int = Field(default=10_000, ge=0)
    # Records per transaction of a read model's consumer.
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    # A stable name for this instance of the back office (one per machine): its consumers then
    # join their groups as static members, and a restart takes their partitions back at once
    # instead of waiting for the group to give up on the old process. Unset: dynamic members.
    consumer_instance: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,60}$")
    # Prometheus metrics of ``sscard run`` on this port (0: none).
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    # Bearer tokens of the HTTP API: who issues them, for which audience, and where their public
    # keys are (a JWKS file or an http(s) URL). Unset outside production: the development key
    # pair's (README: Identities and roles).
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_jwks: str | None = None
    # Whether development tokens (sscard token issue) are signed and accepted. Unset: yes,
    # except in production, which refuses them.
    auth_dev_keys: bool | None = None
    # The web console: whether the proxy in front of us says truly that the browser came over
    # TLS (X-Forwarded-Proto; its session cookie is then Secure and HSTS is sent), and the
    # identity provider's sign-in page the console links to (unset: sign in with a token only).
    console_trust_forwarded_proto: bool = False
    console_sign_in_url: str | None = Field(default=None, pattern=r"^https://")

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str | None) -> str | None:
        """host:port[,host:port...]: checked here, so a typo is a configuration error, not a
        traceback deep inside the Kafka client."""
        if value is None:
            return None
        for entry in value.split(","):
            host, sep, port = entry.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("must be host:port[,host:port...] (e.g. kafka1:9092)")
            if not all(c.isalnum() or c in ".-_[]:" for c in host):
                raise ValueError("must be host:port[,host:port...] (e.g. kafka1:9092)")
        return value

    @field_validator(
        "kafka_security_protocol",
        "kafka_sasl_mechanism",
        "kafka_sasl_username",
        "kafka_sasl_password",
        "kafka_ssl_cafile",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An exported but empty variable means unset, and names are read case-blind."""
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
        return value

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: str | None) -> str | None:
        if value:
            try:
                PostgresParams.from_url(value)
            except ConfigurationError as exc:
                raise ValueError(str(exc).removeprefix("DATABASE_URL ")) from None
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Self:
        key = self.holder_id_key.get_secret_value()
        if self.env == "production" and key == DEVELOPMENT_HOLDER_ID_KEY:
            raise ValueError("SSCARD_HOLDER_ID_KEY must be set to a real secret in production")
        if len(key) < 16:
            raise ValueError("SSCARD_HOLDER_ID_KEY must be at least 16 characters")
        master = self.master_key.get_secret_value()
        if self.env == "production" and master == DEVELOPMENT_MASTER_KEY:
            raise ValueError("SSCARD_MASTER_KEY must be set to a real secret in production")
        if len(master) < 32:
            raise ValueError("SSCARD_MASTER_KEY must be at least 32 characters")
        problem = kafka_security_problem(self)
        if problem is not None:
            raise ValueError(problem)
        if self.env == "production" and self.auth_dev_keys:
            raise ValueError("SSCARD_AUTH_DEV_KEYS must not be true in production")
        return self

    @property
    def dev_tokens_allowed(self) -> bool:
        if self.auth_dev_keys is not None:
            return self.auth_dev_keys
        return self.env != "production"

    @property
    def unmasked_reads_allowed(self) -> bool:
        if self.allow_unmasked is not None:
            return self.allow_unmasked
        return self.env != "production"

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url) or self.persistence_module == "eventsourcing.postgres"

    def postgres(self) -> PostgresParams:
        if self.database_url:
            params = PostgresParams.from_url(self.database_url)
        else:
            try:
                params = PostgresParams()  # fields come from POSTGRES_*
            except ValidationError as exc:
                first = exc.errors()[0]
                field = str(first["loc"][0]) if first["loc"] else "dbname"
                raise ConfigurationError(
                    variable_of(field, "POSTGRES_"), f"is invalid: {first['msg']}"
                ) from None
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
