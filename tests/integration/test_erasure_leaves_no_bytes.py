"""An erasure leaves no old bytes in any file of the data directory.

A realistic history (several holders, each with a replacement, so their view rows are rewritten
several times), the views fed from it, then one holder erased and the erasure applied by the
views: by a replay of every view, and by a view's consumer reading Kafka. Then every file in the
data directory (``sscard.sqlite``, ``views.sqlite``, their ``-wal`` and ``-shm``, the lock files)
is read as bytes. Nothing of the erased person may be left in any of them: not their ID number,
full name or masked name (``欧**``, which the outlet queue showed until the erasure), nor their
wrapped data key. The other holders' masked names must still be found, in the same scan, so the
scan does see the rows (and this test fails when old row images survive: without
``secure_delete`` on the view store, or without emptying its WAL after the erasure).

The erased holder's stream id and card numbers stay, by design: they are the facts erasure keeps
(the card's life stays auditable, README "Personal data").
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from domain.identifiers import mask_name
from projections.catalogue import VIEW_NAMES
from samples import stories
from service.bootstrap import BackOffice, open_back_office
from service.settings import Settings
from service.views import replay
from store.erasure import erase_holder
from tests.conftest import make_settings
from tests.support import Clock, card_number, collect, pre_report, produce, report, resident_id
from tests.views_support import consume_until_caught_up, publish_all

pytestmark = pytest.mark.integration

# Family names no other holder of the history shares, so a masked name names one holder.
ERASED_NAME = "欧阳锋"
KEPT_NAMES = ("诸葛亮", "上官婉", "东方朔")


@dataclass(frozen=True)
class Person:
    resident_id: str
    name: str
    cards: tuple[str, ...]

    @property
    def masked(self) -> str:
        return mask_name(self.name)


def _replacement(backoffice: BackOffice, clock: Clock, rid: str) -> str:
    office = backoffice.office
    office.pre_report_loss(pre_report(rid))
    clock.advance(hours=2)
    certificate = office.report_loss_formally(report(rid)).certificate_number
    clock.advance(days=10)
    new_card = card_number()
    office.record_production(produce(certificate, new_card))
    clock.advance(days=1)
    office.record_collection(collect(rid, certificate))
    clock.advance(days=30)
    return new_card


def _history(backoffice: BackOffice, clock: Clock) -> tuple[Person, list[Person]]:
    people = []
    for name in (ERASED_NAME, *KEPT_NAMES):
        rid, first = resident_id(), card_number()
        backoffice.office.issue_card(stories.issue(rid, first, holder_name=name))
        clock.advance(hours=1)
        people.append((rid, name, first))
    done = []
    for rid, name, first in people:
        second = _replacement(backoffice, clock, rid)
        done.append(Person(rid, name, (first, second)))
    return done[0], done[1:]


def _wrapped_key(settings: Settings, backoffice: BackOffice, rid: str) -> bytes:
    holder = str(backoffice.office.holder_id(rid))
    conn = sqlite3.connect(f"file:{settings.sqlite_path}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT wrapped FROM sscard_data_keys WHERE holder_id = ?", (holder,)
        ).fetchone()
    finally:
        conn.close()
    assert row is not None, "the holder has a key row before the erasure"
    assert row[0], "the holder's key is live before the erasure"
    return bytes(row[0])


def _every_file(data_dir: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted(data_dir.iterdir()) if p.is_file()}
    assert {"sscard.sqlite", "views.sqlite"} <= set(files)
    return files


def _found(files: dict[str, bytes], needle: bytes) -> list[str]:
    return [name for name, content in files.items() if needle in content]


def _assert_erased_everywhere(
    settings: Settings, erased: Person, kept: list[Person], wrapped: bytes
) -> None:
    files = _every_file(settings.data_dir)
    # The scan sees the rows: the other holders' masked names are there.
    for person in kept:
        assert _found(files, person.masked.encode()), f"{person.masked} not found in any file"
    leftovers = {
        what: where
        for what, needle in (
            ("masked name", erased.masked.encode()),
            ("full name", erased.name.encode()),
            ("ID number", erased.resident_id.encode()),
            ("wrapped data key", wrapped),
        )
        if (where := _found(files, needle))
    }
    assert not leftovers, f"the erased holder's data is still in {leftovers}"


def _erase(settings: Settings, clock: Clock, erased: Person) -> bytes:
    with open_back_office(settings, clock=clock) as backoffice:
        wrapped = _wrapped_key(settings, backoffice, erased.resident_id)
        erase_holder(backoffice, stories.erase(erased.resident_id))
    return wrapped


def test_an_erasure_replayed_into_every_view_leaves_no_old_bytes(tmp_path: Path):
    settings = make_settings(tmp_path)
    clock = Clock()
    # Open throughout, as under ``sscard run``: the last connection to close would checkpoint
    # and remove the WAL, which no running back office ever does.
    running = open_back_office(settings, clock=clock)
    erased, kept = _history(running, clock)
    for view in VIEW_NAMES:
        replay(settings, view)
    before = _every_file(settings.data_dir)
    assert _found(before, erased.masked.encode()), "the outlet queue shows the holder"

    wrapped = _erase(settings, clock, erased)
    for view in VIEW_NAMES:
        replay(settings, view)
    try:
        _assert_erased_everywhere(settings, erased, kept, wrapped)
    finally:
        running.close()


@pytest.mark.kafka
def test_an_erasure_applied_by_a_consumer_leaves_no_old_bytes(tmp_path: Path, kafka_bootstrap: str):
    settings = make_settings(
        tmp_path, kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}"
    )
    clock = Clock()
    running = open_back_office(settings, clock=clock)  # open throughout, as under ``sscard run``
    try:
        erased, kept = _history(running, clock)
        publish_all(settings)
        consume_until_caught_up(settings, "outlet_queue")
        assert _found(_every_file(settings.data_dir), erased.masked.encode())

        wrapped = _erase(settings, clock, erased)
        publish_all(settings)
        consume_until_caught_up(settings, "outlet_queue")
        _assert_erased_everywhere(settings, erased, kept, wrapped)
    finally:
        running.close()


def test_every_connection_writing_a_store_file_zeroes_what_it_deletes(tmp_path: Path):
    """The event recorders', the key table's and the view store's: ``secure_delete`` is each
    connection's own setting, and SQLite's default depends on how it was built (on a build
    whose default is on, this cannot fail; the scans above can)."""
    settings = make_settings(tmp_path)
    with open_back_office(settings) as backoffice:
        datastore = backoffice.office.factory.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA secure_delete")
            recorder = cursor.fetchone()[0]
        table = backoffice.personal_data.table
        keys = table._connection().execute("PRAGMA secure_delete").fetchone()[0]  # type: ignore[attr-defined]
        with backoffice.views.reading() as tx:
            views = tx.conn.exec_driver_sql("PRAGMA secure_delete").scalar()
    assert (recorder, keys, views) == (1, 1, 1)
