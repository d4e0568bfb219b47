"""How events are stored: pydantic events to JSON bytes (orjson) and back, with upcasting,
personal fields sealed per holder, and a hash chain per stream.

Lives beside the application, never in the domain. The library's own mapper rebuilds events by
poking ``__dict__``, which bypasses pydantic; this one validates every stored event on load, and
runs ``upcast_vN_vN+1`` static methods when a record is older than its class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    Mapper,
    StoredEvent,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import get_topic, resolve_topic

from contract.envelope import Envelope
from contract.public_form import PUBLIC_NEEDS
from domain.application import CardOffice
from domain.cardholder.events import HolderErased
from domain.disclosure import PERSONAL_FIELDS, data_owner
from domain.erasure import ERASED, ERASED_CONTEXT
from domain.event import DomainEvent, current_schema_version
from store.chain import CHAIN_FIELD, StreamHeads, record_digest
from store.protection import PERSONAL_DATA_TOPIC, PersonalData, field_context
from store.public_opening import PublicOpening
from tracking.source import Record


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)

    def register(self, transcoding: Transcoding) -> None:
        del transcoding
        raise TypeError("events are pydantic models; they need no registered transcodings")


def upcast(cls: type[DomainEvent], state: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored state up to the class's current schema_version, one step at a time."""
    version = int(state.get("schema_version", 1))
    current = current_schema_version(cls)
    while version < current:
        step = getattr(cls, f"upcast_v{version}_v{version + 1}", None)
        if step is None:
            raise TypeError(f"{cls.__name__} has no upcast_v{version}_v{version + 1}")
        step(state)
        version += 1
    state["schema_version"] = current
    return state


class PydanticMapper(Mapper[UUID]):
    """Pydantic events to stored records and back, with personal fields sealed per holder
    (``store.protection``) and each record linked to its predecessor (``store.chain``).

    A record written before encryption (no ``_chain``) still loads: its personal fields are
    plaintext until ``sscard db migrate`` seals them. An erased holder's records load with the
    erasure marker in every personal field."""

    def __init__(
        self,
        transcoder: Transcoder,
        cipher: Cipher | None = None,
        compressor: Compressor | None = None,
    ) -> None:
        if not isinstance(cipher, PersonalData):
            raise TypeError(
                "the card office's mapper needs CIPHER_TOPIC=" + PERSONAL_DATA_TOPIC + " (and "
                "MASTER_KEY): personal data is never stored in plain text"
            )
        super().__init__(transcoder=transcoder, cipher=None, compressor=compressor)
        self.personal_data: PersonalData = cipher
        self.heads = StreamHeads()
        self._public = PublicOpening(cipher, lambda stored: self.to_stored_form(stored, True))

    # ---- writing -----------------------------------------------------------------------

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        """The record to insert. Remembers it as its stream's head: call it only to store."""
        event = cast(DomainEvent, domain_event)
        cls = type(event)
        stream, version = event.originator_id, event.originator_version
        state = event.model_dump(mode="json", exclude={"originator_id", "originator_version"})
        self.seal(cls, state, stream, version)
        state[CHAIN_FIELD] = self._link(stream, version)
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        topic = get_topic(cls)
        self.heads.remember(stream, version, topic, data)
        return StoredEvent(
            originator_id=stream, originator_version=version, topic=topic, state=data
        )

    def seal(
        self, cls: type[DomainEvent], state: dict[str, Any], stream: UUID, version: int
    ) -> None:
        """Encrypt the personal fields of a record's JSON state in place, with the data key of
        the holder the record is about."""
        personal = PERSONAL_FIELDS.get(cls)
        if not personal:
            return
        key = self.personal_data.key_for_writing(_owner(state, stream))
        for name in personal:
            value = state.get(name)
            if value is not None:
                state[name] = PersonalData.seal(
                    key, orjson.dumps(value), field_context(stream, version, name)
                )

    def _link(self, stream: UUID, version: int) -> str:
        """The digest of the record before this one in its stream ("" for the first)."""
        if version <= 1:
            return ""
        known = self.heads.digest_of(stream, version - 1)
        if known is not None:
            return known
        previous = self.personal_data.table.record(stream, version - 1)
        if previous is None:
            raise RuntimeError(
                f"cannot link stream {stream} version {version}: version {version - 1} unknown"
            )
        return record_digest(stream, version - 1, previous.topic, previous.state)

    # ---- reading -----------------------------------------------------------------------

    def _stored_state(self, stored_event: StoredEvent) -> dict[str, Any]:
        data = stored_event.state
        if self.compressor:
            data = self.compressor.decompress(data)
        state: dict[str, Any] = self.transcoder.decode(data)
        return state

    def _opened(
        self,
        cls: type[DomainEvent],
        stored_event: StoredEvent,
        needed: frozenset[str] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """The record's JSON state with its personal fields opened (or erased), without its
        chain link; and whether its holder was erased. ``needed``: open these personal fields
        alone and leave the others out of the state (None: open them all)."""
        state = self._stored_state(stored_event)
        chained = state.pop(CHAIN_FIELD, None) is not None
        personal = PERSONAL_FIELDS.get(cls)
        if cls is HolderErased:
            self.personal_data.forget(str(_uuid(stored_event.originator_id)))  # cached before
        if not personal:
            return state, False
        if needed is not None:
            for name in personal:
                if name not in needed:
                    state.pop(name, None)
            personal = {n: k for n, k in personal.items() if state.get(n) is not None}
            if not personal:  # nothing to open: no data key asked for
                return state, False
        stream = _uuid(stored_event.originator_id)
        owner = _owner(state, stream)
        key = self.personal_data.key_for_reading(owner, required=chained)
        if key is None and (chained or self.personal_data.is_erased(owner)):
            for name in personal:
                if state.get(name) is not None:
                    state[name] = ERASED
            return state, True
        if key is not None and chained:
            version = stored_event.originator_version
            for name in personal:
                value = state.get(name)
                if value is not None:
                    context = field_context(stream, version, name)
                    state[name] = orjson.loads(PersonalData.open(key, value, context))
        return state, False

    def opened_state(
        self, cls: type[DomainEvent], stored_event: StoredEvent
    ) -> tuple[dict[str, Any], bool]:
        """The stored JSON state, personal fields opened (``sscard db migrate`` seals them again
        for another stream id); True with it when the holder was erased."""
        return self._opened(cls, stored_event)

    def prefetch_keys(self, records: Sequence[StoredEvent]) -> None:
        """Load, in one query, the data keys a batch of a holder's records will need (the
        relay's batches: one key lookup per batch instead of one per holder)."""
        owners = {str(r.originator_id) for r in records if _OWN_STREAM_PERSONAL.get(r.topic, False)}
        if owners:
            self.personal_data.prefetch(owners)

    def to_stored_form(
        self, stored_event: StoredEvent, public_only: bool = False
    ) -> tuple[type[DomainEvent], dict[str, Any]]:
        """The event's class and ``event.model_dump(mode="json")``, without validating it.

        A record at its class's current schema version was written from exactly that form
        (less the two originator fields, which lead the field order, and the chain link, which
        trails it), so it is rebuilt as is, personal fields opened; an older record is upcast
        and validated, like any load. The relay publishes the public form of this form.
        ``public_only``: only the personal fields its public form is derived from opened
        (``contract.public_form.PUBLIC_NEEDS``), the others left out: what a replay into the
        read models needs, at the cost of the decryption the public form needs.
        """
        cls: type[DomainEvent] = resolve_topic(stored_event.topic)
        needed = PUBLIC_NEEDS.get(cls, _NOTHING) if public_only else None
        state, _ = self._opened(cls, stored_event, needed)
        if state.get("schema_version", 1) != current_schema_version(cls):
            event = cast(DomainEvent, self.to_domain_event(stored_event))
            return cls, event.model_dump(mode="json")
        return cls, {
            "originator_id": str(stored_event.originator_id),
            "originator_version": stored_event.originator_version,
            **state,
        }

    def public_envelopes(self, records: Sequence[Record]) -> list[Envelope]:
        """The public envelope of each record of a replay's batch, from its
        ``to_stored_form(..., public_only=True)``, in bulk (``store.public_opening``)."""
        return self._public.envelopes(records)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls: type[DomainEvent] = resolve_topic(stored_event.topic)
        state, erased = self._opened(cls, stored_event)
        upcast(cls, state)
        stream = _uuid(stored_event.originator_id)
        state["originator_id"] = stream
        state["originator_version"] = stored_event.originator_version
        self.heads.confirm(
            stream, stored_event.originator_version, stored_event.topic, stored_event.state
        )
        return cls.model_validate(state, context=ERASED_CONTEXT if erased else None)


_NOTHING: frozenset[str] = frozenset()

# Topics of event types with personal fields sealed by their own stream's key (holder events;
# claims name their holder inside the record and are left to the lookup on demand).
_OWN_STREAM_PERSONAL = {
    get_topic(cls): "holder_id" not in cls.model_fields for cls in PERSONAL_FIELDS
}


def _owner(state: dict[str, Any], stream: UUID) -> str:
    """Whose data key seals this record (``domain.disclosure.data_owner``)."""
    return data_owner({"originator_id": stream, **state})


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def mapper_of(office: CardOffice) -> PydanticMapper:
    """The office's mapper (the library builds it from ``MAPPER_TOPIC``)."""
    mapper = office.mapper
    assert isinstance(mapper, PydanticMapper)
    return mapper


def personal_data_of(office: CardOffice) -> PersonalData:
    """The office's data keys (its mapper holds them)."""
    return mapper_of(office).personal_data


MAPPER_TOPIC = get_topic(PydanticMapper)
TRANSCODER_TOPIC = get_topic(OrjsonTranscoder)
