"""The benches' workload: holder stories written through the card office (setup, not measured)."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg import sql

from domain.application import CardOffice
from domain.event import DomainEvent
from samples.stories import Identities, issue, population_story
from service.bootstrap import open_back_office
from service.settings import Settings
from store.persistence import personal_data_of

Say = Callable[[str], None]

_PROGRESS_EVERY = 5_000
BENCH_BIRTHS = date(1950, 1, 1)


def populate(office: CardOffice, events: int, ids: Identities, say: Say) -> int:
    say(f"setup: writing {events:,} card events through the card office")
    started = time.perf_counter()
    written = 0
    for holder in itertools.count():
        for _ in population_story(office, ids, holder):
            written += 1
            if written % _PROGRESS_EVERY == 0 or written == events:
                say(f"setup:   {written:,}/{events:,} ({time.perf_counter() - started:.1f} s)")
            if written == events:
                return written
    raise AssertionError("unreachable")


def populate_fast(
    office: CardOffice, events: int, ids: Identities, say: Say, holders_at_once: int = 2_000
) -> int:
    """The same holder stories as ``populate``, through the same commands, mapper and keys, but
    ``holders_at_once`` holders advance together, one command each per round, and each round's
    events are stored in one transaction: every record is what the office stores one command at a
    time (sealed, chained), only the commits are fewer. Holders' events interleave in the store,
    as a province's do. A command still loads its holder from the store, so each holder's events
    are written before its next command runs."""
    say(f"setup: writing {events:,} card events through the card office, in rounds")
    started = time.perf_counter()
    pending: list[Any] = []
    office_save = office.save

    def deferred(*objs: Any, **kwargs: Any) -> list[Any]:
        assert not kwargs, "the bench's commands carry no tracking"
        pending.extend(objs)
        return []

    stories: list[Iterator[DomainEvent]] = []
    holders = itertools.count()
    written, shown = 0, 0
    office.save = deferred  # type: ignore[method-assign]
    try:
        while written < events:
            while len(stories) < holders_at_once:
                stories.append(population_story(office, ids, next(holders)))
            going: list[Iterator[DomainEvent]] = []
            for story in stories:
                if written == events:
                    break
                if next(story, None) is not None:
                    written += 1
                    going.append(story)
            stories = going
            office_save(*pending)
            pending.clear()
            if written - shown >= 10 * _PROGRESS_EVERY or written == events:
                shown = written
                say(f"setup:   {written:,}/{events:,} ({time.perf_counter() - started:.1f} s)")
    finally:
        office.save = office_save  # type: ignore[method-assign]
    return written


def register(office: CardOffice, count: int, say: Say) -> list[str]:
    """Holders for the latency run, each with a card that can be pre-reported."""
    say(f"setup: registering {count:,} holders for the latency run")
    # A district and card series the population never uses.
    ids = Identities("110108", "L", born=BENCH_BIRTHS)
    holders = []
    for _ in range(count):
        rid = ids.resident_id()
        office.issue_card(issue(rid, ids.card_number()))
        holders.append(rid)
    return holders


def populate_store(
    settings: Settings, events: int, ids: Identities, say: Say, twin_dir: Path | None = None
) -> int:
    """``populate_fast`` into the store ``settings`` name. On PostgreSQL the stories are written
    through the card office into a SQLite twin first (the same settings, keys and mapper, so
    the same records: sealed with the same holders' keys, chained alike), then its records and
    data keys are copied over in large transactions, byte for byte, in the same order: a
    command's round trips to PostgreSQL would make a million events take hours. ``twin_dir``
    given, the twin is written there (``data/``, ``state/``) and left: a SQLite store of the
    same events; otherwise in a temporary folder, removed."""
    if not settings.uses_postgres:
        with open_back_office(settings) as backoffice:
            return populate_fast(backoffice.office, events, ids, say)
    with contextlib.ExitStack() as stack:
        if twin_dir is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sscard-twin-")))
        else:
            folder = twin_dir
        twin = twin_settings(settings, folder)
        with open_back_office(twin) as source:
            written = populate_fast(source.office, events, ids, say)
            started = time.perf_counter()
            with open_back_office(settings) as target:
                keys = _copy_keys(twin, target.office)
                records = _copy_records(source.office, target.office)
            say(
                f"setup: {records:,} records and {keys:,} data keys copied to PostgreSQL in "
                f"{time.perf_counter() - started:.1f} s"
            )
    return written


def twin_settings(settings: Settings, folder: Path) -> Settings:
    """A PostgreSQL bench store's SQLite twin in ``folder``: the same keys, SQLite files."""
    return settings.model_copy(
        update={
            "database_url": None,
            "persistence_module": None,
            "postgres_schema": None,
            "data_dir": folder / "data",
            "state_dir": folder / "state",
        }
    )


def _copy_keys(twin: Settings, office: CardOffice) -> int:
    """Every wrapped data key of the twin's store into the office's key table."""
    with contextlib.closing(sqlite3.connect(twin.sqlite_path)) as twin_db:
        rows = twin_db.execute(
            "SELECT holder_id, wrapped, kek_id, created_at FROM sscard_data_keys"
        ).fetchall()
    table: Any = personal_data_of(office).table  # PostgresKeyTable: the bench writes it raw
    conn = table._connection()
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            sql.SQL(
                "INSERT INTO {} (holder_id, wrapped, kek_id, created_at) VALUES (%s, %s, %s, %s)"
            ).format(table._keys()),
            rows,
        )
    return len(rows)


def _copy_records(source: CardOffice, target: CardOffice, batch: int = 5_000) -> int:
    """Every record of ``source``'s store appended to ``target``'s, in store order."""
    position, copied = 0, 0
    while True:
        found = list(source.recorder.select_notifications(start=position, limit=batch))
        found = [n for n in found if n.id > position]
        if not found:
            return copied
        target.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=n.originator_id,
                    originator_version=n.originator_version,
                    topic=n.topic,
                    state=n.state,
                )
                for n in found
            ]
        )
        copied += len(found)
        position = found[-1].id
