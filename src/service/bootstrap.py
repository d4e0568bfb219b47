"""The composition root: one ``Settings`` in, every wired component out. Nothing connects at
import time; each entry point (CLI, tests, benchmarks) calls ``build`` with explicit settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from domain.application import CardOffice, utc_now
from domain.hospitals import HospitalRegistry
from domain.region_policy import RegionPolicies
from service.persistence import MAPPER_TOPIC, TRANSCODER_TOPIC
from service.settings import Settings
from tracking.source import StoreEventSource
from tracking.store import ViewStore, ensure_wal


def office_env(settings: Settings) -> dict[str, str]:
    """The card office's environment, prefixed with its name so other apps can share a process."""
    env = {
        "MAPPER_TOPIC": MAPPER_TOPIC,
        "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
        "HOLDER_ID_KEY": settings.holder_id_key.get_secret_value(),
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
        }
        if pg.db_schema:
            env["POSTGRES_SCHEMA"] = pg.db_schema
    else:
        ensure_wal(settings.sqlite_path)
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    prefix = CardOffice.name.upper() + "_"
    return {prefix + key: value for key, value in env.items()}


def region_policies(settings: Settings) -> RegionPolicies:
    if settings.region_policies is not None:
        return RegionPolicies.from_file(settings.region_policies)
    return RegionPolicies.packaged()


def hospital_registry(settings: Settings) -> HospitalRegistry:
    if settings.hospital_registry is not None:
        return HospitalRegistry.from_file(settings.hospital_registry)
    return HospitalRegistry.packaged()


def view_store(settings: Settings) -> ViewStore:
    """Read models live beside the event store: a second SQLite file in the same data directory,
    or the same PostgreSQL database."""
    if settings.uses_postgres:
        pg = settings.postgres()
        return ViewStore.postgres(
            host=pg.host,
            port=pg.port,
            dbname=pg.dbname,
            user=pg.user,
            password=pg.password.get_secret_value(),
            schema=pg.db_schema,
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ViewStore.sqlite(settings.views_sqlite_path)


@dataclass
class BackOffice:
    settings: Settings
    office: CardOffice
    views: ViewStore
    source: StoreEventSource = field(init=False)

    def __post_init__(self) -> None:
        self.source = StoreEventSource(self.office)

    def close(self) -> None:
        self.source.reset()
        self.views.close()
        self.office.close()

    def __enter__(self) -> BackOffice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build(settings: Settings, clock: Callable[[], datetime] = utc_now) -> BackOffice:
    hospitals = hospital_registry(settings)
    views = view_store(settings)
    try:
        # The library creates its tables and functions at every start. Several processes
        # starting at once against a fresh PostgreSQL schema collided doing so ("tuple
        # concurrently updated"); one at a time, under the schema lock, they never do.
        with views.schema_lock():
            office = CardOffice(
                env=office_env(settings), policies=region_policies(settings), clock=clock
            )
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
