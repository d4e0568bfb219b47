"""``sscard db migrate``: bring a store written by an older release up to date, in place.

Two kinds of old record load, replay and publish as they are (the mapper and the office read
both forms), but leave something on disk that the file alone gives away:

- records from before personal-data protection: personal fields in plain text, no chain links.
  Their fields are sealed with their holder's data key;
- records from before keyed digests (``domain.keyed_digests``): request records whose fingerprint
  is the plain SHA-256 of the command (an ID number comes back from it by brute force), and
  invoice reservations on a stream whose id is the plain uuid5 of the invoice number. The
  fingerprint is re-keyed, the reservation moved to its keyed stream id (its sealed fields sealed
  again for that id). Both are keyed functions of the old digest, so an erased holder's records
  are re-keyed too, though nobody can read them.

Every record of a rewritten stream gets its link again (a record's link covers its predecessor's
bytes, which changed). Then the store is compacted (SQLite: VACUUM and an emptied WAL;
PostgreSQL: VACUUM FULL), so the old bytes are not left in free pages, and the log chain is
audited afresh.

Run it with the back office stopped: running processes remember the streams' last records.
Idempotent: a second run finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from domain.claims.events import InvoiceNumberReserved
from domain.disclosure import PERSONAL_FIELDS
from domain.erasure import ERASED
from domain.event import DomainEvent
from domain.keyed_digests import DigestKeys, keyed_uuid
from domain.requests import RequestRecorded, rekey_fingerprint
from store.chain import CHAIN_FIELD, record_digest
from store.keystore import RawRecord
from store.log_chain import forget_log_chain, streams_of
from store.opened import OpenedStore
from store.persistence import PydanticMapper, mapper_of, upcast
from store.protection import HolderKeyErased

_REQUEST = get_topic(RequestRecorded)
_INVOICE = get_topic(InvoiceNumberReserved)


@dataclass(frozen=True)
class MigrationReport:
    streams: int  # streams rewritten
    sealed: int  # old records whose personal fields were sealed
    relinked: int  # records whose chain link was (re)written
    rekeyed: int = 0  # request records whose plain fingerprint was keyed
    moved: int = 0  # invoice reservations moved from a plain stream id to a keyed one


def _plain_fingerprint(state: dict[str, Any]) -> bool:
    return int(state.get("schema_version", 1)) < 3 or state.get("fingerprint_form") == "sha256"


def _plain_invoice_stream(state: dict[str, Any]) -> bool:
    return int(state.get("schema_version", 1)) < 2


def _stale(record: RawRecord, state: dict[str, Any]) -> bool:
    """Whether the record keeps something an older release wrote (see the module's doc)."""
    return (
        CHAIN_FIELD not in state
        or (record.topic == _REQUEST and _plain_fingerprint(state))
        or (record.topic == _INVOICE and _plain_invoice_stream(state))
    )


def _seal_plaintext(
    mapper: PydanticMapper,
    cls: type[DomainEvent],
    state: dict[str, Any],
    stream: UUID,
    version: int,
) -> None:
    try:
        mapper.seal(cls, state, stream, version)
    except HolderKeyErased:
        # The holder was erased before the migration: their plaintext is simply dropped.
        for name in PERSONAL_FIELDS.get(cls, {}):
            if state.get(name) is not None:
                state[name] = ERASED


def _moved(
    mapper: PydanticMapper, record: RawRecord, state: dict[str, Any], stream: UUID
) -> dict[str, Any]:
    """The state of a record moved to another stream id: sealed values are bound to their
    stream id, so they are opened and sealed again for the new one. An erased holder's sealed
    values stay as they are: no key opens them, wherever they are."""
    cls: type[DomainEvent] = resolve_topic(record.topic)
    if CHAIN_FIELD not in state:
        _seal_plaintext(mapper, cls, state, stream, record.version)
        return state
    stored = StoredEvent(
        originator_id=record.stream_id,
        originator_version=record.version,
        topic=record.topic,
        state=record.state,
    )
    opened, erased = mapper.opened_state(cls, stored)
    if erased:
        return state
    mapper.seal(cls, opened, stream, record.version)
    return opened


def _rekeyed_request(record: RawRecord, state: dict[str, Any], keys: DigestKeys) -> dict[str, Any]:
    """A request record at the current version, its fingerprint keyed, fields in the order the
    office writes them."""
    state.pop(CHAIN_FIELD, None)
    upcast(RequestRecorded, state)
    rekey_fingerprint(state, keys)
    event = RequestRecorded.model_validate(
        state | {"originator_id": record.stream_id, "originator_version": record.version}
    )
    dumped: dict[str, Any] = event.model_dump(
        mode="json", exclude={"originator_id", "originator_version"}
    )
    return dumped


@dataclass
class _Counts:
    sealed: int = 0
    rekeyed: int = 0
    moved: int = 0


def _migrated_state(
    mapper: PydanticMapper,
    keys: DigestKeys,
    record: RawRecord,
    stream: UUID,
    counts: _Counts,
) -> dict[str, Any]:
    """One record's state as it is to be stored on ``stream``, without its link."""
    cls: type[DomainEvent] = resolve_topic(record.topic)
    state: dict[str, Any] = orjson.loads(record.state)
    counts.sealed += CHAIN_FIELD not in state
    if stream != record.stream_id:
        state = _moved(mapper, record, state, stream)
        upcast(cls, state)
        counts.moved += 1
    elif CHAIN_FIELD not in state:
        _seal_plaintext(mapper, cls, state, stream, record.version)
    if record.topic == _REQUEST and _plain_fingerprint(state):
        state = _rekeyed_request(record, state, keys)
        counts.rekeyed += 1
    state.pop(CHAIN_FIELD, None)
    return state


def _migrated_stream(
    mapper: PydanticMapper, keys: DigestKeys, records: list[RawRecord], counts: _Counts
) -> list[RawRecord]:
    """The stream's records as they are to be stored (on a new stream id, for an invoice's)."""
    stream = records[0].stream_id
    if records[0].topic == _INVOICE and _plain_invoice_stream(orjson.loads(records[0].state)):
        stream = keyed_uuid(keys.invoice_streams, stream)
    rewritten: list[RawRecord] = []
    link = ""
    for record in records:
        state = _migrated_state(mapper, keys, record, stream, counts)
        state[CHAIN_FIELD] = link
        new = RawRecord(record.position, stream, record.version, record.topic, orjson.dumps(state))
        rewritten.append(new)
        link = record_digest(new.stream_id, new.version, new.topic, new.state)
    return rewritten


def migrate(backoffice: OpenedStore) -> MigrationReport:
    mapper = mapper_of(backoffice.office)
    keys = backoffice.office.digest_keys
    table = backoffice.personal_data.table
    streams = relinked = 0
    counts = _Counts()
    for records in streams_of(table.records(by_stream=True)):
        if not any(_stale(r, orjson.loads(r.state)) for r in records):
            continue
        rewritten = _migrated_stream(mapper, keys, records, counts)
        if rewritten[0].stream_id != records[0].stream_id:
            table.move(records[0].stream_id, rewritten)
        else:
            table.rewrite(rewritten)
        streams += 1
        relinked += len(rewritten)
    if streams:
        table.compact()
        forget_log_chain(backoffice.views)
    return MigrationReport(streams, counts.sealed, relinked, counts.rekeyed, counts.moved)
