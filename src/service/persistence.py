"""How events are stored: pydantic events to JSON bytes (orjson) and back, with upcasting.

Lives beside the application, never in the domain. The library's own mapper rebuilds events by
poking ``__dict__``, which bypasses pydantic; this one validates every stored event on load, and
runs ``upcast_vN_vN+1`` static methods when a record is older than its class.
"""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder, Transcoding
from eventsourcing.utils import get_topic, resolve_topic

from domain.event import DomainEvent, current_schema_version


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
    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        event = cast(DomainEvent, domain_event)
        state = event.model_dump(mode="json", exclude={"originator_id", "originator_version"})
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            topic=get_topic(type(event)),
            state=data,
        )

    def _stored_state(self, stored_event: StoredEvent) -> dict[str, Any]:
        data = stored_event.state
        if self.cipher:
            data = self.cipher.decrypt(data)
        if self.compressor:
            data = self.compressor.decompress(data)
        state: dict[str, Any] = self.transcoder.decode(data)
        return state

    def to_json_form(self, stored_event: StoredEvent) -> tuple[type[DomainEvent], dict[str, Any]]:
        """The event's class and ``event.model_dump(mode="json")``, without validating it.

        A record at its class's current schema version was written from exactly that form
        (less the two originator fields, which lead the field order), so it is rebuilt as is;
        an older record is upcast and validated, like any load. The relay publishes this form.
        """
        cls: type[DomainEvent] = resolve_topic(stored_event.topic)
        state = self._stored_state(stored_event)
        if state.get("schema_version", 1) != current_schema_version(cls):
            event = cast(DomainEvent, self.to_domain_event(stored_event))
            return cls, event.model_dump(mode="json")
        return cls, {
            "originator_id": str(stored_event.originator_id),
            "originator_version": stored_event.originator_version,
            **state,
        }

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        state = self._stored_state(stored_event)
        cls: type[DomainEvent] = resolve_topic(stored_event.topic)
        upcast(cls, state)
        originator_id = stored_event.originator_id
        state["originator_id"] = (
            originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        )
        state["originator_version"] = stored_event.originator_version
        return cls.model_validate(state)


MAPPER_TOPIC = get_topic(PydanticMapper)
TRANSCODER_TOPIC = get_topic(OrjsonTranscoder)
