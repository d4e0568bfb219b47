"""Where the stores live, as values: what a job that makes stores of its own beside the live
ones (a rebuild's scratch view stores) needs to know, without reading the settings. The
composition root builds it (``service.bootstrap.store_location``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tracking.store import ViewStore


@dataclass(frozen=True)
class PostgresDatabase:
    """The PostgreSQL database of the store, and the schema of its live tables."""

    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)
    schema: str | None = None

    def dsn(self) -> str:
        """A libpq connection string (its search path: the live schema, if any)."""
        options = f" options='-c search_path={self.schema}'" if self.schema else ""
        return (
            f"host={self.host} port={self.port} dbname={self.dbname} user={self.user} "
            f"password={self.password}{options}"
        )

    def view_store(self, schema: str | None) -> ViewStore:
        """A view store in this database, in ``schema`` (the live one, or a scratch one)."""
        return ViewStore.postgres(
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=self.user,
            password=self.password,
            schema=schema,
        )


@dataclass(frozen=True)
class StoreLocation:
    """SQLite files in ``data_dir``, or (``postgres`` set) a PostgreSQL database."""

    data_dir: Path
    postgres: PostgresDatabase | None = None
