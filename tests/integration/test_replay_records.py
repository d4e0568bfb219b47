"""What a replay reads (``StoreEventSource.records``): the library's notifications as bare
tuples, on SQLite and on PostgreSQL, whatever the window and the types asked for, and a stored
state that holds a newline (valid JSON, never written by the mapper) read whole."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import orjson
import psycopg
from psycopg import sql

from domain.cardholder.events import CardIssued, LossPreReported
from service.bootstrap import BackOffice
from service.settings import Settings
from tests.support import Clock, every_kind_of_event
from tracking.source import Record, StoreEventSource


def _expected(source: StoreEventSource, after: int, limit: int, types: Any = ()) -> list[Any]:
    return [
        (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in source.notifications(after, limit, types)
    ]


def _as_bytes(records: list[Record]) -> list[Any]:
    return [(*r[:4], r[4].encode() if isinstance(r[4], str) else r[4]) for r in records]


def test_records_are_the_notifications_as_tuples(backoffice: BackOffice, clock: Clock):
    every_kind_of_event(backoffice.office, clock)
    source = backoffice.source
    head = source.head()
    assert head > 20
    for after, limit in ((0, 100_000), (0, 1), (3, 5), (head - 2, 10), (head, 10)):
        assert _as_bytes(source.records(after, limit)) == _expected(source, after, limit)
    types = (CardIssued, LossPreReported)
    records = source.records(0, 100_000, types)
    assert {r[3].rsplit(":")[1] for r in records} == {"CardIssued", "LossPreReported"}
    assert _as_bytes(records) == _expected(source, 0, 100_000, types)
    assert _as_bytes(source.records(2, 3, types)) == _expected(source, 2, 3, types)


def test_a_stored_state_with_a_newline_is_read_whole(
    backoffice: BackOffice, clock: Clock, settings: Settings
):
    every_kind_of_event(backoffice.office, clock)
    source = backoffice.source
    (first, *_) = source.notifications(0, 1)
    pretty = orjson.dumps(orjson.loads(first.state), option=orjson.OPT_INDENT_2)
    assert b"\n" in pretty
    _rewrite_state(backoffice, settings, first.id, pretty)
    records = source.records(0, 100_000)
    assert _as_bytes(records) == _expected(source, 0, 100_000)
    assert _as_bytes(records)[0][4] == pretty


def _rewrite_state(backoffice: BackOffice, settings: Settings, position: int, state: bytes) -> None:
    recorder: Any = backoffice.office.recorder
    table = recorder.events_table_name
    if not settings.uses_postgres:
        with contextlib.closing(sqlite3.connect(settings.sqlite_path)) as db, db:
            db.execute(f"UPDATE {table} SET state = ? WHERE rowid = ?", (state, position))
        return
    assert settings.database_url is not None
    statement = sql.SQL("UPDATE {}.{} SET state = %s WHERE notification_id = %s").format(
        sql.Identifier(recorder.datastore.schema), sql.Identifier(table)
    )
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(statement, (state, position))
