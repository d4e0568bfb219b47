"""The replay benches' stores: populated for one run and removed, or kept in a folder and used
again (``--keep-store DIR``, ``--from-store DIR``).

Writing a million events takes a quarter of an hour and more; replaying them, a few minutes. A
kept store lets the replay be measured again (on a newer tree, at a quieter hour) without
writing the events again. A folder holds one store:

- ``bench-store.json`` (mode 0600, written last: a folder without it holds no store): what the
  store is (its kind, the events written, the records and last position, the PostgreSQL schema
  and database) and the two keys it was written with, the holder-id key and the master key that
  wraps its data keys. The people in it are generated (``samples.stories``), nobody's data; the
  keys are the bench's, never a real store's.
- SQLite: ``data/sscard.sqlite`` (the events and the wrapped data keys) and ``data/views.sqlite``.
- PostgreSQL: the schema named in the record, left in the database, and in ``sqlite/`` the SQLite
  twin the events were written through first: itself a kept SQLite store of the same events.

A store is used only if it is the one asked for: its kind, its number of events, its database,
and still the records it was kept with; anything else is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from application.results import BEIJING
from bench.relay import (
    Scratch,
    bench_settings,
    create_schema,
    database_url_of,
    drop_schema,
    scratch,
)
from bench.workload import BENCH_BIRTHS, populate_store, twin_settings
from domain.errors import InvalidInput, first_problem
from samples.stories import Identities
from service.bootstrap import open_back_office
from service.settings import Settings

Say = Callable[[str], None]
StoreKind = Literal["sqlite", "postgres"]

RECORD = "bench-store.json"
TWIN = "sqlite"
WHAT = (
    "an sscard bench store: generated people (samples.stories), nobody's personal data; the keys "
    "are the bench's own, the ones it was written with"
)


def bench_people() -> Identities:
    """The holders every replay bench writes (one district, one card series)."""
    return Identities("110105", "R", born=BENCH_BIRTHS)


class KeptStore(BaseModel):
    """``bench-store.json``: what a kept store is, and the keys that open it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    what: str = WHAT
    store: StoreKind
    events: int = Field(ge=1)  # card events written (``--events``)
    head: int = Field(ge=1)  # the store's last position when it was kept
    postgres_schema: str | None = None
    database: str | None = None  # host:port/dbname of the schema (no credentials)
    holder_id_key: SecretStr
    master_key: SecretStr
    populated_at: datetime
    populate_seconds: float

    def to_json(self) -> str:
        fields = self.model_dump(mode="json")
        fields["holder_id_key"] = self.holder_id_key.get_secret_value()
        fields["master_key"] = self.master_key.get_secret_value()
        return json.dumps(fields, indent=2, ensure_ascii=False) + "\n"

    def with_keys(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={"holder_id_key": self.holder_id_key, "master_key": self.master_key}
        )


def database_of(settings: Settings) -> str:
    pg = settings.postgres()
    return f"{pg.host}:{pg.port}/{pg.dbname}"


# ---- the rules a folder must meet --------------------------------------------------------------


def refuse_unless_new(folder: Path, option: str = "--keep-store") -> None:
    """A store is kept only in a new or empty folder: nothing of anyone's is overwritten."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"{option} {folder}: not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise InvalidInput(f"{option} {folder}: not empty (a store is kept in a new folder)")


def refuse_unless_kept(
    folder: Path, store: StoreKind, events: int, settings: Settings
) -> KeptStore:
    """The record of the store ``folder`` holds, if it is a store of ``store``'s kind with
    ``events`` events, in this database; otherwise ``InvalidInput`` saying why (one line)."""
    path = folder / RECORD
    if not path.is_file():
        raise InvalidInput(f"--from-store {folder}: holds no bench store (no {RECORD})")
    try:
        kept = KeptStore.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        where, what = first_problem(exc, "record")
        raise InvalidInput(
            f"--from-store {folder}: {RECORD} unreadable ({where}: {what})"
        ) from None
    if kept.store != store:
        raise InvalidInput(f"--from-store {folder}: holds a {kept.store} store, not {store}")
    if kept.events != events:
        raise InvalidInput(
            f"--from-store {folder}: holds {kept.events:,} events, not {events:,} (--events)"
        )
    if store == "sqlite":
        if not (folder / "data" / "sscard.sqlite").is_file():
            raise InvalidInput(f"--from-store {folder}: its data/sscard.sqlite is missing")
        return kept
    if not settings.uses_postgres:
        raise InvalidInput("--store postgres needs DATABASE_URL (the database of the schema)")
    here = database_of(settings)
    if kept.database != here:
        raise InvalidInput(
            f"--from-store {folder}: its schema is in {kept.database}, DATABASE_URL names {here}"
        )
    with psycopg.connect(settings.postgres().dsn(), autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (kept.postgres_schema,)
        ).fetchone()
    if found is None:
        raise InvalidInput(
            f"--from-store {folder}: schema {kept.postgres_schema} is not in {here} (dropped?)"
        )
    return kept


def refuse_if_changed(folder: Path, kept: KeptStore, head: int) -> None:
    if head != kept.head:
        raise InvalidInput(
            f"--from-store {folder}: the store's last position is {head:,}, "
            f"{kept.head:,} when it was kept (changed since)"
        )


# ---- the store of a run ------------------------------------------------------------------------


@contextlib.contextmanager
def bench_store(
    settings: Settings,
    store: StoreKind,
    events: int,
    say: Say,
    keep: Path | None = None,
    reuse: Path | None = None,
) -> Iterator[Scratch]:
    """A store of ``events`` bench events: populated and removed afterwards; populated into
    ``keep`` and left there; or the one kept in ``reuse``, as it is."""
    if reuse is not None:
        with _reused(settings, store, events, reuse, say) as own:
            yield own
        return
    if keep is not None:
        yield _kept(settings, store, events, keep, say)
        return
    with scratch(settings, store) as own:
        started = time.perf_counter()
        populate_store(own.settings, events, bench_people(), say)
        say(f"setup: {events:,} events stored in {time.perf_counter() - started:.1f} s")
        yield own


def populate_only(settings: Settings, store: StoreKind, events: int, keep: Path, say: Say) -> None:
    """``--populate-only``: a store kept in ``keep``, nothing replayed."""
    _kept(settings, store, events, keep, say)


@contextlib.contextmanager
def _reused(
    settings: Settings, store: StoreKind, events: int, folder: Path, say: Say
) -> Iterator[Scratch]:
    kept = refuse_unless_kept(folder, store, events, settings)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    if store == "sqlite":
        bench = kept.with_keys(bench_settings(settings, folder, prefix))
        own = Scratch(bench, prefix, folder, None)
        yield _checked(own, folder, kept, say)
        return
    # A PostgreSQL store keeps nothing in files; whatever the run puts there goes when it ends.
    workdir = Path(tempfile.mkdtemp(prefix="sscard-bench-"))
    try:
        where = {"database_url": database_url_of(settings), "postgres_schema": kept.postgres_schema}
        bench = bench_settings(settings, workdir, prefix).model_copy(update=where)
        own = Scratch(kept.with_keys(bench), prefix, workdir, kept.postgres_schema)
        yield _checked(own, folder, kept, say)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _checked(own: Scratch, folder: Path, kept: KeptStore, say: Say) -> Scratch:
    with open_back_office(own.settings) as backoffice:
        refuse_if_changed(folder, kept, backoffice.source.head())
    populated = kept.populated_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M Beijing time")
    say(
        f"setup: {kept.events:,} events kept in {folder} (populated {populated} "
        f"in {kept.populate_seconds:.0f} s), not written again"
    )
    return own


def _kept(settings: Settings, store: StoreKind, events: int, folder: Path, say: Say) -> Scratch:
    """A store of ``events`` events populated into ``folder`` (and on PostgreSQL a schema of its
    own, left in the database), its record written last. On a failure what was made goes."""
    refuse_unless_new(folder)
    if store == "postgres" and not settings.uses_postgres:
        raise InvalidInput("--store postgres needs DATABASE_URL (the server to make a schema in)")
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    bench = bench_settings(settings, folder, prefix)
    schema = None
    made_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if store == "postgres":
            schema = f"bench_kept_{events}_{uuid.uuid4().hex[:6]}"
            create_schema(settings, schema)
            bench = bench.model_copy(
                update={"database_url": database_url_of(settings), "postgres_schema": schema}
            )
        started = time.perf_counter()
        populate_store(bench, events, bench_people(), say, twin_dir=folder / TWIN)
        seconds = time.perf_counter() - started
        with open_back_office(bench) as backoffice:
            head = backoffice.source.head()
        kept = KeptStore(
            store=store,
            events=events,
            head=head,
            postgres_schema=schema,
            database=database_of(settings) if schema else None,
            holder_id_key=bench.holder_id_key,
            master_key=bench.master_key,
            populated_at=datetime.now(UTC),
            populate_seconds=round(seconds, 1),
        )
        if schema is not None:
            twin = twin_settings(bench, folder / TWIN)
            with open_back_office(twin) as backoffice:
                twin_head = backoffice.source.head()
            alone = {"store": "sqlite", "head": twin_head, "postgres_schema": None}
            _write_record(folder / TWIN, kept.model_copy(update=alone | {"database": None}))
        _write_record(folder, kept)
    except BaseException:
        if schema is not None:
            with contextlib.suppress(Exception):
                drop_schema(settings, schema)
        if made_folder:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for entry in folder.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise
    where = f"PostgreSQL schema {schema}, its SQLite twin in {folder / TWIN}"
    say(
        f"setup: {events:,} events ({head:,} records) stored in {seconds:.1f} s, kept: "
        f"{where if schema else 'SQLite'}"
    )
    say(f"kept: {folder}")
    return Scratch(bench, prefix, folder, schema)


def _write_record(folder: Path, kept: KeptStore) -> None:
    """``bench-store.json``, mode 0600 from its creation (it holds the keys), put in place whole."""
    path = folder / RECORD
    partial = folder / f".{RECORD}.partial"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(kept.to_json())
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
