"""The relay's fast wire encoding is exactly the contract's encoding, for every event type.

The relay never rebuilds events: it reads each stored record's JSON form (personal fields opened
by the mapper) and writes the public envelope from it. These tests hold that path, byte for
byte, to the pydantic models'.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import orjson
import pytest
from pydantic import BaseModel

from contract.envelope import EventEnvelope, SettlementStatusMessage, parse_card_event
from contract.public_form import PUBLIC_MODELS, StoredForm, public_payload
from domain.cardholder.events import CARDHOLDER_EVENTS, LossPreReported
from domain.event import DomainEvent
from domain.settlement import SettlementChange, settlement_changes
from relay.topics import Topics
from relay.wire import CARD_EVENT_HEADERS, messages_for
from store.persistence import PydanticMapper
from tests.support import Clock, every_kind_of_event, memory_office

TOPICS = Topics()
# Microseconds on the clock: the datetime formatting must agree on them too.
CLOCK = Clock(datetime(2026, 3, 2, 1, 0, 0, 123456, tzinfo=UTC))
OFFICE = memory_office(CLOCK)
HOLDERS = every_kind_of_event(OFFICE, CLOCK)


def encode(model: BaseModel) -> bytes:
    """Compact UTF-8 JSON, straight from pydantic's serializer."""
    return model.__pydantic_serializer__.to_json(model)


def envelope_model(event: DomainEvent, position: int) -> EventEnvelope:
    """The envelope model of an event, built from the event itself (not its stored form), its
    public payload validated against the contract: the reference the wire is held to."""
    payload = public_payload(type(event), event.model_dump(mode="json"))
    assert payload is not None, f"{type(event).__name__} is never published"
    public = PUBLIC_MODELS[type(event)].model_validate(payload)
    return EventEnvelope(
        event_id=event.event_id,
        event_type=event.event_type(),
        schema_version=event.schema_version,
        stream_id=event.originator_id,
        stream_version=event.originator_version,
        position=position,
        occurred_at=event.occurred_at,
        actor=event.actor,
        outlet=event.outlet,
        payload=public.model_dump(mode="json"),
    )


def settlement_model(
    change: SettlementChange, event: DomainEvent, position: int
) -> SettlementStatusMessage:
    return SettlementStatusMessage(
        card_number=change.card_number,
        status=change.status,
        since=event.occurred_at,
        reason=change.reason,
        event_id=event.event_id,
        position=position,
    )


def every_event_type() -> list[DomainEvent]:
    events = [e for holder in HOLDERS for e in OFFICE.history(holder)]
    assert {type(e) for e in events} == set(CARDHOLDER_EVENTS)
    return events


def stored_record(event: DomainEvent):
    [record] = OFFICE.recorder.select_events(
        event.originator_id, gt=event.originator_version - 1, lte=event.originator_version
    )
    return record


def stored_form(event: DomainEvent, position: int) -> StoredForm:
    """What the relay reads: the record as the store keeps it, decoded without validation."""
    mapper = cast(PydanticMapper, OFFICE.mapper)
    event_type, form = mapper.to_stored_form(stored_record(event))
    return StoredForm(position, event_type, form)


def test_a_stored_records_json_form_is_the_events_own():
    for event in every_event_type():
        form = stored_form(event, 1).form
        # Same keys in the same order: the payload's bytes on the wire depend on it.
        assert orjson.dumps(form) == orjson.dumps(event.model_dump(mode="json"))


def test_an_older_record_is_upcast_and_validated_before_it_is_published(monkeypatch):
    event = next(e for e in every_event_type() if isinstance(e, LossPreReported))
    mapper = cast(PydanticMapper, OFFICE.mapper)
    stored = stored_record(event)
    calls: list[int] = []
    real = mapper.to_domain_event

    def counting(record):
        calls.append(1)
        return real(record)

    monkeypatch.setattr(mapper, "to_domain_event", counting)
    mapper.to_stored_form(stored)
    assert calls == [], "a current record needs no validation"
    old = orjson.loads(stored.state)
    old["schema_version"] = 0  # as if written before the class's current version
    stored = type(stored)(
        stored.originator_id, stored.originator_version, stored.topic, orjson.dumps(old)
    )
    # No upcast_v0_v1 exists: the error proves the slow path (upcast, validate) was taken.
    with pytest.raises(TypeError, match="upcast_v0_v1"):
        mapper.to_stored_form(stored)


def test_the_wire_value_is_the_envelope_models_encoding():
    for position, event in enumerate(every_event_type(), start=1):
        message = next(messages_for(stored_form(event, position), TOPICS))
        assert message.value == encode(envelope_model(event, position)), type(event).__name__
        public = public_payload(type(event), event.model_dump(mode="json"))
        assert parse_card_event(message.value).payload == PUBLIC_MODELS[type(event)](**public)
        assert message.key == str(event.originator_id).encode()
        assert [name for name, _ in message.headers] == list(CARD_EVENT_HEADERS)
        facts = dict(message.headers)
        assert facts["event_type"] == type(event).__name__.encode()
        assert facts["position"] == str(position).encode()
        assert facts["actor"] == event.actor.describe().encode()


def test_the_settlement_wire_value_is_the_status_models_encoding():
    checked = 0
    for position, event in enumerate(every_event_type(), start=1):
        expected = [
            encode(settlement_model(change, event, position))
            for change in settlement_changes(event)
        ]
        wire = list(messages_for(stored_form(event, position), TOPICS))[1:]
        assert [m.value for m in wire] == expected, type(event).__name__
        assert [m.key for m in wire] == [c.card_number.encode() for c in settlement_changes(event)]
        checked += len(wire)
    assert checked >= 7


def test_sets_are_published_sorted_whatever_the_hash_seed():
    events = every_event_type()
    proxy = next(e for e in events if type(e).__name__ == "ProxyAuthorized")
    formal = next(e for e in events if type(e).__name__ == "LossFormallyReported")
    for field, event in (("documents", proxy), ("scope", proxy), ("identity_documents", formal)):
        published = event.model_dump(mode="json")[field]
        assert published == sorted(published), field
        assert len(published) >= 2, field
