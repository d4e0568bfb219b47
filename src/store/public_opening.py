"""A replay's records opened in bulk into their public envelopes.

Each envelope is the one ``contract.envelope.public_envelope`` makes of the record's
``PydanticMapper.to_stored_form(..., public_only=True)`` (what the relay publishes, less the
personal fields no public form needs), made for a whole batch at the cost of little more than a
JSON decode per record: what is known of each event type (its class, its schema version, which
personal fields its public form needs opened and which it leaves out, its envelope's maker) is
worked out once per topic; the data keys of a batch's holders are fetched in one query and
looked up once per holder; no ``UUID`` is made (the stream id stays text); and a personal field
no public form needs is dropped unopened.

Only the common record takes this way: chained (``_chain``: sealed by the mapper that writes
today) and at its class's current schema version. Any other (written before encryption, or to
be upcast) is opened by the mapper's own ``to_stored_form``, the one definition this repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from contract.envelope import Envelope, MakeEnvelope, envelope_maker
from contract.public_form import PUBLIC_NEEDS, Form
from domain.cardholder.events import HolderErased
from domain.disclosure import PERSONAL_FIELDS
from domain.erasure import ERASED
from domain.event import DomainEvent, current_schema_version
from store.chain import CHAIN_FIELD
from store.keystore import KeyRow
from store.protection import PersonalData, field_context
from tracking.source import Record

# The mapper's own opening of one record, public form's fields only (``to_stored_form``).
OpenOne = Callable[[StoredEvent], tuple[type[DomainEvent], Form]]

_UNKNOWN = object()  # a holder whose key this batch has not looked up yet


@dataclass(frozen=True, slots=True)
class _Kind:
    """What opening a record of one topic takes, worked out once."""

    schema_version: int
    make: MakeEnvelope
    personal: bool  # it has personal fields, or it is an erasure: the slower way below
    opened: tuple[str, ...]  # personal fields the public form is made of: opened
    dropped: tuple[str, ...]  # personal fields it is not made of: left out, never decrypted
    holder_owned: bool  # sealed with the key of the record's ``holder_id``, not its stream's
    erasure: bool  # reading it drops the holder's cached key (``HolderErased``)

    @classmethod
    def of(cls, topic: str) -> _Kind:
        event_cls: type[DomainEvent] = resolve_topic(topic)
        needed = PUBLIC_NEEDS.get(event_cls, frozenset())
        personal = PERSONAL_FIELDS.get(event_cls, {})
        return cls(
            schema_version=current_schema_version(event_cls),
            make=envelope_maker(event_cls),
            personal=bool(personal) or event_cls is HolderErased,
            opened=tuple(n for n in personal if n in needed),
            dropped=tuple(n for n in personal if n not in needed),
            holder_owned="holder_id" in event_cls.model_fields,
            erasure=event_cls is HolderErased,
        )


class PublicOpening:
    """Records (``tracking.source.Record``) to their public envelopes."""

    def __init__(self, personal_data: PersonalData, open_one: OpenOne) -> None:
        self._personal_data = personal_data
        self._open_one = open_one
        self._kinds: dict[str, _Kind] = {}
        # Topics whose public form needs a field sealed with the record's own stream's key:
        # their holders' keys are fetched for the whole batch in one query.
        self._stream_keyed = {
            get_topic(cls)
            for cls, needed in PUBLIC_NEEDS.items()
            if needed and "holder_id" not in cls.model_fields
        }

    def envelopes(self, records: Sequence[Record]) -> list[Envelope]:
        # One pass over the records, each decoded just before it is used: decoding a batch
        # first and making its envelopes after cost a tenth more (the decoded batch no longer
        # fits the processor's cache).
        owners = {r[1] for r in records if r[3] in self._stream_keyed}
        keys = self._personal_data.keys_for_reading(owners) if owners else {}
        kinds = self._kinds
        loads = orjson.loads
        out: list[Envelope] = []
        for record in records:
            position, stream, version, topic, data = record
            kind = kinds.get(topic)
            if kind is None:
                kind = kinds[topic] = _Kind.of(topic)
            state = loads(data)
            if (
                state.pop(CHAIN_FIELD, None) is None
                or state.get("schema_version", 1) != kind.schema_version
            ):
                out.append(kind.make(position, self._slowly(record)))
                continue
            if kind.personal:
                self._personal(kind, stream, version, state, keys)
            out.append(
                kind.make(
                    position, {"originator_id": stream, "originator_version": version, **state}
                )
            )
        return out

    def _personal(
        self,
        kind: _Kind,
        stream: str,
        version: int,
        state: Form,
        keys: dict[str, AESGCM | KeyRow | None],
    ) -> None:
        """A chained record's personal fields: those its public form is made of opened in place
        (or erased), the others dropped."""
        if kind.erasure:
            self._personal_data.forget(stream)
            keys.pop(stream, None)
        for name in kind.dropped:
            state.pop(name, None)
        names = [n for n in kind.opened if state.get(n) is not None]
        if not names:  # nothing to open: no data key asked for
            return
        owner = str(state.get("holder_id") or stream) if kind.holder_owned else stream
        key = keys.get(owner, _UNKNOWN)
        if key is _UNKNOWN:
            key = keys[owner] = self._personal_data.key_for_reading(owner, required=True)
        elif isinstance(key, KeyRow):
            key = keys[owner] = self._personal_data.key_of(owner, key)
        if key is None:
            for name in names:
                state[name] = ERASED
            return
        assert isinstance(key, AESGCM)
        for name in names:
            context = field_context(stream, version, name)
            state[name] = orjson.loads(PersonalData.open(key, state[name], context))

    def _slowly(self, record: Record) -> Form:
        _, stream, version, topic, data = record
        state = data.encode() if isinstance(data, str) else data  # the bytes as stored
        stored = StoredEvent(originator_id=UUID(stream), originator_version=version, topic=topic,
                             state=state)  # fmt: skip
        _, form = self._open_one(stored)
        return form
