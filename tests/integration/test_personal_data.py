"""Personal data at rest, crypto-shredding and the hash chain, on SQLite and on PostgreSQL.

The store is edited behind the back office's back, directly in its tables (one event's bytes,
one event deleted, two swapped, the log reordered), and ``verify-chain`` must name the event.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from pydantic import SecretStr

from domain.cardholder.errors import HolderDataErased
from domain.claims.errors import ClaimDetailsErased
from domain.erasure import ERASED
from domain.errors import ConfigurationError
from projections.lapse_schedule import LapseSchedule
from replay.verify_chain import verify_chain
from samples.claims import approve, submit
from samples.stories import erase
from service.bootstrap import BackOffice, open_back_office
from service.settings import Settings
from store.chain import record_digest
from store.erasure import erase_holder
from tests.support import (
    AGENT_DOCS,
    RESIDENT_ID_SHAPE,
    Clock,
    authorize,
    cancel,
    card_number,
    collect,
    issue,
    pre_report,
    produce,
    report,
    resident_id,
)
from tracking.envelopes import catch_up, prepare, reset

pytestmark = pytest.mark.integration


class RawStore:
    """The event table, edited directly (what an attacker with database access could do)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.settings.uses_postgres:
            with psycopg.connect(self.settings.postgres().dsn(), autocommit=True) as conn:
                yield conn
        else:
            conn = sqlite3.connect(self.settings.sqlite_path, isolation_level=None)
            try:
                yield conn
            finally:
                conn.close()

    @property
    def table(self) -> str:
        return "cardoffice_events" if self.settings.uses_postgres else "stored_events"

    @property
    def position(self) -> str:
        return "notification_id" if self.settings.uses_postgres else "rowid"

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.settings.uses_postgres else sql

    def _id(self, stream: UUID) -> Any:
        return stream if self.settings.uses_postgres else stream.hex

    def state(self, stream: UUID, version: int) -> bytes:
        with self._cursor() as c:
            row = c.execute(
                self._q(
                    f"SELECT state FROM {self.table} WHERE originator_id = ? "
                    "AND originator_version = ?"
                ),
                (self._id(stream), version),
            ).fetchone()
        return bytes(row[0])

    def set_state(self, stream: UUID, version: int, state: bytes) -> None:
        with self._cursor() as c:
            c.execute(
                self._q(
                    f"UPDATE {self.table} SET state = ? WHERE originator_id = ? "
                    "AND originator_version = ?"
                ),
                (state, self._id(stream), version),
            )

    def delete(self, stream: UUID, version: int) -> None:
        with self._cursor() as c:
            c.execute(
                self._q(
                    f"DELETE FROM {self.table} WHERE originator_id = ? AND originator_version = ?"
                ),
                (self._id(stream), version),
            )

    def insert_after(self, stream: UUID, version: int, forged: bytes, topic: str) -> None:
        """Slip an event in after ``version``: later versions move up by one."""
        with self._cursor() as c:
            for shift in (1000, -999):
                c.execute(
                    self._q(
                        f"UPDATE {self.table} SET originator_version = originator_version + ?"
                        " WHERE originator_id = ? AND originator_version > ?"
                    ),
                    (shift, self._id(stream), version),
                )
            c.execute(
                self._q(
                    f"INSERT INTO {self.table} (originator_id, originator_version, topic, "
                    "state) VALUES (?, ?, ?, ?)"
                ),
                (self._id(stream), version + 1, topic, forged),
            )

    def swap_positions(self, first: int, second: int) -> None:
        p = self.position
        with self._cursor() as c:
            for old, new in ((first, -1), (second, first), (-1, second)):
                c.execute(self._q(f"UPDATE {self.table} SET {p} = ? WHERE {p} = ?"), (new, old))

    def all_bytes(self) -> bytes:
        with self._cursor() as c:
            rows = c.execute(f"SELECT topic, state FROM {self.table}").fetchall()
            keys = c.execute("SELECT holder_id, wrapped FROM sscard_data_keys").fetchall()
        return b"".join(
            bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
            for row in [*rows, *keys]
            for v in row
            if v is not None
        )


def a_replacement_by_proxy(office: Any, clock: Clock) -> tuple[str, str, UUID]:
    holder, agent = resident_id(), resident_id()
    office.issue_card(issue(holder))
    clock.advance(hours=1)
    office.pre_report_loss(pre_report(holder))
    clock.advance(hours=1)
    office.authorize_proxy(authorize(holder, agent))
    clock.advance(hours=1)
    application = office.report_loss_formally(report(holder, agent=agent, documents=AGENT_DOCS))
    clock.advance(days=20)
    new_card = card_number()
    office.record_production(produce(application.certificate_number, new_card))
    clock.advance(days=1)
    office.record_collection(collect(holder, application.certificate_number, agent=agent))
    return holder, agent, application.originator_id


@pytest.fixture
def wired(settings: Settings, clock: Clock) -> Iterator[BackOffice]:
    with open_back_office(settings, clock=clock) as backoffice:
        yield backoffice


def test_no_id_number_or_name_is_stored_in_plain_text(wired: BackOffice, clock: Clock):
    holder, agent, _ = a_replacement_by_proxy(wired.office, clock)
    other = resident_id()
    wired.office.issue_card(issue(other))
    stored = RawStore(wired.settings).all_bytes()
    for rid in (holder, agent, other):
        assert rid.encode() not in stored
    assert RESIDENT_ID_SHAPE.search(stored) is None
    assert "张三".encode() not in stored
    assert "李四".encode() not in stored
    # ... and every personal field reads back.
    assert wired.office.holder(holder).resident_id == holder
    assert wired.office.holder(holder).proxies[0].agent_resident_id == agent


def test_an_erased_holder_reads_as_erased_and_every_view_still_rebuilds(
    wired: BackOffice, clock: Clock
):
    office = wired.office
    holder, _, stream = a_replacement_by_proxy(office, clock)
    other = resident_id()
    office.issue_card(issue(other))
    office.pre_report_loss(pre_report(other))
    clock.advance(days=1)
    today = clock.now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    claim = office.submit_claim(submit(other, today)).originator_id
    erase_holder(wired, erase(holder))
    erase_holder(wired, erase(other))

    with open_back_office(
        wired.settings, clock=clock
    ) as fresh:  # nothing cached: read from the store
        events = fresh.office.history(holder)
        assert [type(e).__name__ for e in events][-1] == "HolderErased"
        issued = events[0].model_dump()
        assert (issued["resident_id"], issued["holder_name"]) == (ERASED, ERASED)
        assert events[2].model_dump()["agent_resident_id"] == ERASED
        state = fresh.office.holder_by_id(stream)
        assert state.card.status.value == "sealed"  # the card's life stays auditable
        assert state.resident_id == ERASED
        assert fresh.office.claim(claim).treatment_date == ERASED
        with pytest.raises(HolderDataErased):
            fresh.office.cancel_pre_report(cancel(other))
        with pytest.raises(ClaimDetailsErased):
            fresh.office.approve_claim(approve(claim))
        # A read model rebuilds from position 0 over the erased records.
        schedule = LapseSchedule()
        prepare(fresh.views, schedule)
        reset(fresh.views, schedule)
        assert catch_up(fresh.source, fresh.views, schedule) > 0
        report = verify_chain(fresh)
        assert report.intact, report.findings


def _populated(wired: BackOffice, clock: Clock) -> tuple[UUID, UUID]:
    _, _, first = a_replacement_by_proxy(wired.office, clock)
    _, _, second = a_replacement_by_proxy(wired.office, clock)
    report = verify_chain(wired)
    assert report.intact, report.findings
    assert report.added > 0
    return first, second


def _findings(wired: BackOffice) -> list[str]:
    report = verify_chain(wired)
    assert not report.intact
    return [str(f) for f in report.findings]


def test_an_edited_event_is_named(wired: BackOffice, clock: Clock):
    stream, _ = _populated(wired, clock)
    raw = RawStore(wired.settings)
    raw.set_state(stream, 2, raw.state(stream, 2).replace(b"clerk-01", b"clerk-66"))
    found = _findings(wired)
    assert any(f"stream {stream}: version 2 altered" in f for f in found), found


def test_an_edited_last_event_is_named_by_the_log_chain(wired: BackOffice, clock: Clock):
    stream, _ = _populated(wired, clock)
    raw = RawStore(wired.settings)
    last = wired.office.holder_by_id(stream).version
    raw.set_state(stream, last, raw.state(stream, last).replace(b"clerk-01", b"clerk-66"))
    found = _findings(wired)
    assert any(f"stream {stream} version {last} was altered" in f for f in found), found


def test_a_deleted_event_is_named(wired: BackOffice, clock: Clock):
    stream, _ = _populated(wired, clock)
    RawStore(wired.settings).delete(stream, 3)
    found = _findings(wired)
    assert any(f"stream {stream}: version 3 removed" in f for f in found), found


def test_a_deleted_last_event_is_named_by_the_log_chain(wired: BackOffice, clock: Clock):
    stream, _ = _populated(wired, clock)
    last = wired.office.holder_by_id(stream).version
    RawStore(wired.settings).delete(stream, last)
    found = _findings(wired)
    assert any(f"stream {stream} version {last} was removed" in f for f in found), found


def test_two_swapped_events_are_named(wired: BackOffice, clock: Clock):
    stream, _ = _populated(wired, clock)
    raw = RawStore(wired.settings)
    second, third = raw.state(stream, 2), raw.state(stream, 3)
    raw.set_state(stream, 2, third)
    raw.set_state(stream, 3, second)
    found = _findings(wired)
    assert any(f"stream {stream}: versions 2 and 3 reordered" in f for f in found), found


def test_an_inserted_event_is_named(wired: BackOffice, clock: Clock):
    stream, _ = _populated(wired, clock)
    raw = RawStore(wired.settings)
    # A forger who knows the chain: the slipped-in event links correctly to its predecessor.
    second = raw.state(stream, 2)
    link = record_digest(stream, 2, "domain.cardholder.events:LossPreReported", second)
    forged = re.sub(rb'"_chain":"[0-9a-f]*"', f'"_chain":"{link}"'.encode(), second)
    raw.insert_after(stream, 2, forged, "domain.cardholder.events:LossPreReported")
    found = _findings(wired)
    assert any(f"stream {stream}: version 3 inserted" in f for f in found), found


def test_two_events_swapped_in_the_log_are_named(wired: BackOffice, clock: Clock):
    first, second = _populated(wired, clock)
    positions = {
        (n.originator_id, n.originator_version): n.id for n in wired.source.notifications(0, 1000)
    }
    a, b = positions[(first, 2)], positions[(second, 2)]
    RawStore(wired.settings).swap_positions(a, b)
    found = _findings(wired)
    assert any("reordered" in f for f in found), found


def test_an_untouched_store_passes_and_keeps_passing(wired: BackOffice, clock: Clock):
    _populated(wired, clock)
    a_replacement_by_proxy(wired.office, clock)
    report = verify_chain(wired)
    assert report.intact, report.findings
    assert report.head is not None
    assert report.head[0] == wired.source.head()


def test_another_master_key_is_a_configuration_error_naming_it(settings: Settings, clock: Clock):
    rid = resident_id()
    with open_back_office(settings, clock=clock) as backoffice:
        backoffice.office.issue_card(issue(rid))
    other = settings.model_copy(update={"master_key": SecretStr("another-master-key-" + "x" * 20)})
    with pytest.raises(ConfigurationError) as refused:  # at start (store.key_check)
        open_back_office(other, clock=clock).close()
    assert refused.value.variable == "SSCARD_MASTER_KEY"
