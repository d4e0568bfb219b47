"""The relay's fast wire encoding is exactly the contract's encoding, for every event type."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.cardholder.events import CARDHOLDER_EVENTS
from domain.event import DomainEvent
from domain.settlement import settlement_changes
from relay.topics import Topics
from relay.wire import (
    CARD_EVENT_HEADERS,
    card_event_message,
    encode,
    envelope_of,
    parse_card_event,
    settlement_message,
    settlement_status_message,
)
from tests.support import Clock, every_kind_of_event, memory_office

TOPICS = Topics()


def every_event_type() -> list[DomainEvent]:
    # Microseconds on the clock: the datetime formatting must agree on them too.
    clock = Clock(datetime(2026, 3, 2, 1, 0, 0, 123456, tzinfo=UTC))
    office = memory_office(clock)
    events = [e for holder in every_kind_of_event(office, clock) for e in office.history(holder)]
    assert {type(e) for e in events} == set(CARDHOLDER_EVENTS)
    return events


def test_the_wire_value_is_the_envelope_models_encoding():
    for position, event in enumerate(every_event_type(), start=1):
        message = card_event_message(event, position, TOPICS)
        assert message.value == encode(envelope_of(event, position)), type(event).__name__
        assert parse_card_event(message.value).payload == event
        assert message.key == str(event.originator_id).encode()
        assert [name for name, _ in message.headers] == list(CARD_EVENT_HEADERS)
        facts = dict(message.headers)
        assert facts["event_type"] == type(event).__name__.encode()
        assert facts["position"] == str(position).encode()


def test_the_settlement_wire_value_is_the_status_models_encoding():
    checked = 0
    for position, event in enumerate(every_event_type(), start=1):
        for change in settlement_changes(event):
            message = settlement_status_message(change, event, position, TOPICS)
            assert message.value == encode(settlement_message(change, event, position))
            assert message.key == change.card_number.encode()
            checked += 1
    assert checked >= 7


def test_sets_are_published_sorted_whatever_the_hash_seed():
    events = every_event_type()
    proxy = next(e for e in events if type(e).__name__ == "ProxyAuthorized")
    formal = next(e for e in events if type(e).__name__ == "LossFormallyReported")
    for field, event in (("documents", proxy), ("scope", proxy), ("identity_documents", formal)):
        published = event.model_dump(mode="json")[field]
        assert published == sorted(published), field
        assert len(published) >= 2, field
