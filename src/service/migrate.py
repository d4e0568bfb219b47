"""``sscard db migrate``: bring a store written by a release before personal-data protection up
to date, in place.

A release before this one stored personal fields in plain text and no chain links. Such records
load, replay and publish as they are (the mapper reads both forms), but their plaintext stays on
disk and no chain protects them. The migration rewrites every stream that holds such a record:
old records get their personal fields sealed with their holder's data key, and every record of
the stream gets its link again (a record's link covers its predecessor's bytes, which changed).
Then the store file is compacted (SQLite: VACUUM and an emptied WAL), so the old plaintext is
not left in free pages, and the log chain is audited afresh.

Run it with the back office stopped: running processes remember the streams' last records.
Idempotent: a second run finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from eventsourcing.utils import resolve_topic

from domain.disclosure import PERSONAL_FIELDS
from domain.erasure import ERASED
from domain.event import DomainEvent
from service.audit import forget_log_chain, streams_of
from service.bootstrap import BackOffice
from service.chain import CHAIN_FIELD, record_digest
from service.keystore import RawRecord, SQLiteKeyTable
from service.persistence import PydanticMapper
from service.protection import HolderKeyErased


@dataclass(frozen=True)
class MigrationReport:
    streams: int  # streams rewritten
    sealed: int  # old records whose personal fields were sealed
    relinked: int  # records whose chain link was (re)written


def _sealed_state(
    mapper: PydanticMapper, record: RawRecord, state: dict[str, Any], link: str
) -> bytes:
    if CHAIN_FIELD not in state:
        cls: type[DomainEvent] = resolve_topic(record.topic)
        try:
            mapper.seal(cls, state, record.stream_id, record.version)
        except HolderKeyErased:
            # The holder was erased before the migration: their plaintext is simply dropped.
            for name in PERSONAL_FIELDS.get(cls, {}):
                if state.get(name) is not None:
                    state[name] = ERASED
    state.pop(CHAIN_FIELD, None)
    state[CHAIN_FIELD] = link
    return orjson.dumps(state)


def migrate(backoffice: BackOffice) -> MigrationReport:
    mapper = backoffice.office.mapper
    assert isinstance(mapper, PydanticMapper)
    table = backoffice.personal_data.table
    streams = sealed = relinked = 0
    for records in streams_of(table.records(by_stream=True)):
        states = [orjson.loads(r.state) for r in records]
        if all(CHAIN_FIELD in s for s in states):
            continue
        rewritten: list[RawRecord] = []
        link = ""
        for record, state in zip(records, states, strict=True):
            sealed += CHAIN_FIELD not in state
            data = _sealed_state(mapper, record, state, link)
            new = RawRecord(record.position, record.stream_id, record.version, record.topic, data)
            rewritten.append(new)
            link = record_digest(new.stream_id, new.version, new.topic, new.state)
        table.rewrite(rewritten)
        streams += 1
        relinked += len(rewritten)
    if streams:
        if isinstance(table, SQLiteKeyTable):
            table.vacuum()
        else:
            table.purge()
        forget_log_chain(backoffice.views)
    return MigrationReport(streams, sealed, relinked)
