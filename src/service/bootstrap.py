"""The composition root: one ``Settings`` in, every wired component out. Nothing connects at
import time; each entry point (CLI, tests, benchmarks) calls ``open_back_office`` with explicit
settings (it fails at once when the database is down; the workers of ``sscard run`` wait it out
with ``service.workers.wait_for_back_office``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import psycopg

from domain.application import CardOffice, utc_now
from domain.errors import ConfigurationError, InvalidInput
from domain.hospitals import HospitalRegistry
from domain.outlets import OutletRegistry
from domain.region_policy import RegionPolicies
from domain.working_days import PublishedCalendar
from service.calendar import EstimatingCalendar
from service.files import private_data_dir, private_files
from service.settings import PostgresParams, Settings
from store.key_check import check_keys
from store.location import PostgresDatabase, StoreLocation
from store.persistence import MAPPER_TOPIC, TRANSCODER_TOPIC, personal_data_of
from store.protection import PERSONAL_DATA_TOPIC, PersonalData
from store.secure_sqlite import SQLITE_PERSISTENCE
from tracking.source import StoreEventSource
from tracking.store import ViewStore, ensure_wal


def office_env(settings: Settings) -> dict[str, str]:
    """The card office's environment, prefixed with its name so other apps can share a process."""
    env = {
        "MAPPER_TOPIC": MAPPER_TOPIC,
        "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
        "HOLDER_ID_KEY": settings.holder_id_key.get_secret_value(),
        # Personal fields sealed per holder; the keys live beside the events (store.protection).
        "CIPHER_TOPIC": PERSONAL_DATA_TOPIC,
        "MASTER_KEY": settings.master_key.get_secret_value(),
        "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
        # States are immutable, so a cached one never needs copying.
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }
    if settings.uses_postgres:
        pg = settings.postgres()
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": pg.dbname,
            "POSTGRES_HOST": pg.host,
            "POSTGRES_PORT": str(pg.port),
            "POSTGRES_USER": pg.user,
            "POSTGRES_PASSWORD": pg.password.get_secret_value(),
            # No POSTGRES_PRE_PING: with it, psycopg_pool tests each pooled connection on
            # checkout and backs off (1 s, 2 s, 4 s...) after each dead one, so a worker stalled
            # for 15-30 s after a restart. Without it a dead connection fails its query, the
            # pool drops it, the library retries the read (10 x 0.2 s) on the next one, and the
            # runner resets the pool after an outage (tracking.source).
            # The pool's own wait for a connection (the library's default is 30 s).
            "POSTGRES_CONNECT_TIMEOUT": str(settings.postgres_connect_timeout),
        }
        if pg.db_schema:
            env["POSTGRES_SCHEMA"] = pg.db_schema
    else:
        private_data_dir(settings.data_dir)
        private_files(settings.sqlite_path)
        ensure_wal(settings.sqlite_path)
        env |= {
            "PERSISTENCE_MODULE": SQLITE_PERSISTENCE,
            "SQLITE_DBNAME": str(settings.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    prefix = CardOffice.name.upper() + "_"
    return {prefix + key: value for key, value in env.items()}


class InfrastructureError(RuntimeError):
    """The store cannot be used: unreachable, refused, missing or corrupted. Says which."""


# What the CLI reports as infrastructure trouble (exit 3) when it surfaces later than
# open_back_office().
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.DatabaseError, psycopg.Error)


def check_postgres(pg: PostgresParams, timeout: int) -> None:
    """Connect once, with a connect timeout of its own, and say plainly what is wrong: an
    unreachable host, a refused password, a missing database or schema all look alike (a 30 s
    wait, then "couldn't get a connection") through the library's pool."""
    where = f"PostgreSQL at {pg.host}:{pg.port}"
    try:
        with psycopg.connect(pg.dsn(), connect_timeout=timeout) as conn:
            if pg.db_schema:
                row = conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (pg.db_schema,)
                ).fetchone()
                if row is None:
                    raise InfrastructureError(
                        f"{where}: schema {pg.db_schema!r} does not exist in database "
                        f"{pg.dbname!r} (POSTGRES_SCHEMA)"
                    )
    except psycopg.OperationalError as exc:
        text = str(exc)
        if "password authentication failed" in text or "no password supplied" in text:
            cause = f"authentication failed for user {pg.user!r}"
        elif "does not exist" in text and "database" in text:
            cause = f"database {pg.dbname!r} does not exist"
        elif "role" in text and "does not exist" in text:
            cause = f"authentication failed: role {pg.user!r} does not exist"
        else:
            first = text.strip().splitlines()[0].strip() if text.strip() else type(exc).__name__
            cause = f"unreachable ({first[:160]})"
        raise InfrastructureError(f"{where}: {cause}") from None


def check_sqlite(path: Path) -> None:
    """A file that is not a SQLite database (corrupted, or something else) is named as such,
    not met as a traceback half-way through a command."""
    if not path.exists():
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InfrastructureError(f"corrupted file {path}: {exc}") from None


T = TypeVar("T")


def _configured(variable: str, path: Path | None, load: Callable[[Path], T], packaged: T) -> T:
    """An operator's configuration file, or the packaged one; a missing or invalid file is a
    configuration error naming its variable."""
    if path is None:
        return packaged
    try:
        return load(path)
    except OSError as exc:
        raise ConfigurationError(variable, f"names a file that cannot be read: {exc}") from None
    except InvalidInput as exc:
        raise ConfigurationError(variable, f"names an invalid file: {exc}") from None


def region_policies(settings: Settings) -> RegionPolicies:
    return _configured(
        "SSCARD_REGION_POLICIES",
        settings.region_policies,
        RegionPolicies.from_file,
        RegionPolicies.packaged(),
    )


def outlet_registry(settings: Settings) -> OutletRegistry:
    return _configured(
        "SSCARD_OUTLETS", settings.outlets, OutletRegistry.from_file, OutletRegistry.packaged()
    )


def working_calendar(settings: Settings) -> EstimatingCalendar:
    published = _configured(
        "SSCARD_HOLIDAY_CALENDAR",
        settings.holiday_calendar,
        lambda path: PublishedCalendar.packaged().merged(PublishedCalendar.from_file(path)),
        PublishedCalendar.packaged(),
    )
    return EstimatingCalendar(published)


def check_store(settings: Settings) -> None:
    if settings.uses_postgres:
        check_postgres(settings.postgres(), settings.postgres_connect_timeout)
    else:
        check_sqlite(settings.sqlite_path)
        check_sqlite(settings.views_sqlite_path)


def hospital_registry(settings: Settings) -> HospitalRegistry:
    return _configured(
        "SSCARD_HOSPITAL_REGISTRY",
        settings.hospital_registry,
        HospitalRegistry.from_file,
        HospitalRegistry.packaged(),
    )


def store_location(settings: Settings) -> StoreLocation:
    """Where the settings put the stores, as values the store's and the replay's jobs take."""
    if not settings.uses_postgres:
        return StoreLocation(settings.data_dir)
    pg = settings.postgres()
    database = PostgresDatabase(
        host=pg.host,
        port=pg.port,
        dbname=pg.dbname,
        user=pg.user,
        password=pg.password.get_secret_value(),
        schema=pg.db_schema,
    )
    return StoreLocation(settings.data_dir, database)


def view_store(settings: Settings) -> ViewStore:
    """Read models live beside the event store: a second SQLite file in the same data directory,
    or the same PostgreSQL database."""
    postgres = store_location(settings).postgres
    if postgres is not None:
        return postgres.view_store(postgres.schema)
    private_data_dir(settings.data_dir)
    private_files(settings.views_sqlite_path)
    return ViewStore.sqlite(settings.views_sqlite_path)


@dataclass
class BackOffice:
    settings: Settings
    office: CardOffice
    views: ViewStore
    source: StoreEventSource = field(init=False)

    def __post_init__(self) -> None:
        self.source = StoreEventSource(self.office)

    @property
    def personal_data(self) -> PersonalData:
        return personal_data_of(self.office)

    def close(self) -> None:
        self.source.reset()
        self.views.close()
        self.personal_data.close()
        self.office.close()
        if not self.settings.uses_postgres:
            # SQLite made its -wal/-shm and lock files while we ran: keep them private too.
            private_files(self.settings.sqlite_path)
            private_files(self.settings.views_sqlite_path)

    def __enter__(self) -> BackOffice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_back_office(settings: Settings, clock: Callable[[], datetime] = utc_now) -> BackOffice:
    """The store, its keys checked, and the view store, opened once: a database that does not
    answer is an ``InfrastructureError`` now (``service.workers.wait_for_back_office`` waits)."""
    check_store(settings)
    # Every configuration file is read before any store file is made: a bad one writes nothing.
    hospitals = hospital_registry(settings)
    calendar, policies = working_calendar(settings), region_policies(settings)
    outlets = outlet_registry(settings)
    views = view_store(settings)
    try:
        # The library creates its tables and functions at every start. Several processes
        # starting at once against a fresh PostgreSQL schema collided doing so ("tuple
        # concurrently updated"); one at a time, under the schema lock, they never do.
        with views.schema_lock():
            office = CardOffice(
                env=office_env(settings),
                calendar=calendar,
                policies=policies,
                outlets=outlets,
                clock=clock,
            )
            try:
                personal_data_of(office).create_tables()
                # Before anything is read or written: the keys are the store's own.
                check_keys(office, settings.holder_id_key.get_secret_value())
            except Exception:
                office.close()
                raise
        office.hospitals = hospitals
        try:
            views.create()
        except Exception:
            office.close()
            raise
    except Exception:
        views.close()
        raise
    return BackOffice(settings=settings, office=office, views=views)
