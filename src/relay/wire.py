"""What goes on the wire: Kafka message envelopes, their keys and headers, and topic names.

Envelopes are their own pydantic types, not the events: the event's PUBLIC form rides inside as
``payload`` (``domain.disclosure.public_payload``: no ID number, no name, no medical detail), and
the envelope adds what a consumer needs before it parses the payload: type, schema version,
stream and position. Card events go to ``card-events`` (key: holder stream id), claim events to
``reimbursement-events`` (key: claim id). Changing any of this is a contract change: bump
``ENVELOPE_VERSION`` and regenerate ``contracts/``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union
from uuid import UUID

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel, create_model

from domain import disclosure
from domain.disclosure import (
    PUBLIC_CARD_EVENTS,
    PUBLIC_CLAIM_EVENTS,
    PUBLIC_MODELS,
    public_envelope,
    public_payload,
)
from domain.event import Actor, DomainEvent, current_schema_version
from domain.identifiers import CardNumber
from domain.settlement import (
    SettlementChange,
    SettlementReason,
    SettlementStatus,
    settlement_change,
)
from relay.topics import Topics
from tracking.source import Positioned, StoredForm

ENVELOPE_VERSION = disclosure.ENVELOPE_VERSION
Headers = list[tuple[str, bytes]]


class EventEnvelope(BaseModel):
    """The value of a message on ``sscard.card-events`` (key: the holder's stream id) or
    ``sscard.reimbursement-events`` (key: the claim id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    envelope_version: Literal[2] = 2
    event_id: UUID
    event_type: str
    schema_version: int
    stream_id: UUID
    stream_version: Annotated[int, Field(ge=1)]
    position: Annotated[int, Field(ge=1, description="the event's position in the store's log")]
    occurred_at: AwareDatetime
    actor: Actor
    outlet: str | None = None
    payload: dict[str, Any]


def _typed_envelope(event_cls: type[DomainEvent], topic: str) -> type[EventEnvelope]:
    """The envelope of one event type, with ``event_type`` fixed and ``payload`` typed as the
    event's public form."""
    name = event_cls.__name__
    # Built at run time from the event classes, so the annotations are values here.
    type_literal: Any = Literal[name]
    version_literal: Any = Literal[current_schema_version(event_cls)]
    return create_model(
        f"{name}Message",
        __base__=EventEnvelope,
        __doc__=f"A {name} event on the {topic} topic (its public form).",
        event_type=(type_literal, name),
        schema_version=(version_literal, ...),
        payload=(PUBLIC_MODELS[event_cls], ...),
    )


TYPED_ENVELOPES: dict[str, type[EventEnvelope]] = {
    cls.__name__: _typed_envelope(cls, "card-events") for cls in PUBLIC_CARD_EVENTS
}
CLAIM_TYPED_ENVELOPES: dict[str, type[EventEnvelope]] = {
    cls.__name__: _typed_envelope(cls, "reimbursement-events") for cls in PUBLIC_CLAIM_EVENTS
}


def _message_model(envelopes: dict[str, type[EventEnvelope]]) -> type[RootModel[Any]]:
    any_typed_envelope: Any = Union[tuple(envelopes.values())]  # noqa: UP007
    return RootModel[Annotated[any_typed_envelope, Field(discriminator="event_type")]]


CardEventMessage = _message_model(TYPED_ENVELOPES)
ClaimEventMessage = _message_model(CLAIM_TYPED_ENVELOPES)


class SettlementStatusMessage(BaseModel):
    """The value on the compacted ``<prefix>.settlement`` topic (key: the card number).

    The latest message per card is the card's current status. No ID numbers, no names.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_version: Literal[1] = 1
    card_number: CardNumber
    status: SettlementStatus
    since: AwareDatetime
    reason: SettlementReason
    event_id: UUID
    position: Annotated[int, Field(ge=1)]


def envelope_of(event: DomainEvent, position: int) -> EventEnvelope:
    """The envelope model of an event, its public payload validated against the contract."""
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


def settlement_message(
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


def encode(model: BaseModel) -> bytes:
    """Compact UTF-8 JSON, straight from pydantic's serializer."""
    return model.__pydantic_serializer__.to_json(model)


# Header names, in the order they are sent; the AsyncAPI document lists the same names.
CARD_EVENT_HEADERS = (
    "event_id",
    "event_type",
    "schema_version",
    "stream_id",
    "stream_version",
    "position",
    "occurred_at",
    "actor",
)
SETTLEMENT_HEADERS = ("event_id", "status")

# Everything else in the store (number, request-id and invoice reservations, benefit ledgers) is
# internal bookkeeping and never leaves it.
PUBLISHED_EVENTS: tuple[type[DomainEvent], ...] = (*PUBLIC_CARD_EVENTS, *PUBLIC_CLAIM_EVENTS)
_CARD = frozenset(PUBLIC_CARD_EVENTS)
_CLAIMS = frozenset(PUBLIC_CLAIM_EVENTS)


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message, exactly as it is sent."""

    topic: str
    key: bytes
    value: bytes
    headers: Headers


def form_of(positioned: Positioned) -> StoredForm:
    """A loaded event as the relay sees stored ones: its JSON form."""
    event = positioned.event
    return StoredForm(positioned.position, type(event), event.model_dump(mode="json"))


def messages_for(stored: StoredForm, topics: Topics) -> Iterator[Message]:
    """The Kafka messages one stored event becomes (none for internal bookkeeping events).

    Built from the event's JSON form (``StoredForm``, personal fields opened by the mapper),
    never from the model: the relay runs this for every published event. What is sent is the
    public form only."""
    if stored.event_type in _CARD:
        yield card_event_message(stored.event_type, stored.form, stored.position, topics)
    elif stored.event_type in _CLAIMS:
        yield claim_event_message(stored.event_type, stored.form, stored.position, topics)
        return
    else:
        return
    form = stored.form
    change = settlement_change(stored.event_type, form.get("card_number", ""), form.get("result"))
    if change is not None:
        yield settlement_status_message(change, form, stored.position, topics)


def stored_envelope(stored: StoredForm) -> dict[str, Any]:
    """The card-events value of a stored card event, as a dict: what a replay of the store hands
    the read models, so a view rebuilt from the store equals the one fed from Kafka (the relay
    encodes this very dict; the JSON round trip changes nothing: the form holds JSON values)."""
    envelope = public_envelope(stored.event_type, stored.form, stored.position)
    assert envelope is not None, f"{stored.event_type.__name__} is never published"
    return envelope


def card_event_message(
    event_type: type[DomainEvent], form: dict[str, Any], position: int, topics: Topics
) -> Message:
    """The card-events message, from the event's JSON form (``model_dump(mode="json")``).

    Its value is byte for byte ``encode(envelope_of(event, position))`` (a test holds it to
    that), without building the envelope model.
    """
    return _event_message(topics.card_events, event_type, form, position)


def claim_event_message(
    event_type: type[DomainEvent], form: dict[str, Any], position: int, topics: Topics
) -> Message:
    """The reimbursement-events message of a claim event (key: the claim id)."""
    return _event_message(topics.reimbursement_events, event_type, form, position)


def _event_message(
    topic: str, event_type: type[DomainEvent], form: dict[str, Any], position: int
) -> Message:
    envelope = public_envelope(event_type, form, position)
    assert envelope is not None, f"{event_type.__name__} is never published"
    header_values = (
        form["event_id"],
        envelope["event_type"],
        str(form["schema_version"]),
        form["originator_id"],
        str(form["originator_version"]),
        str(position),
        form["occurred_at"],
        _describe_actor(form["actor"]),
    )
    return Message(
        topic,
        form["originator_id"].encode(),
        orjson.dumps(envelope),
        _headers(CARD_EVENT_HEADERS, header_values),
    )


def _describe_actor(actor: dict[str, Any]) -> str:
    """``Actor.describe()`` of the actor's JSON form (a test holds the two equal)."""
    role: str = actor["role"]
    detail = actor.get("staff_id") or actor.get("channel")
    return f"{role}:{detail}" if detail else role


def settlement_status_message(
    change: SettlementChange, payload: dict[str, Any], position: int, topics: Topics
) -> Message:
    """The settlement-status message; its value is ``encode(settlement_message(...))``, byte
    for byte, without building the model."""
    value = orjson.dumps(
        {
            "message_version": 1,
            "card_number": change.card_number,
            "status": change.status.value,
            "since": payload["occurred_at"],
            "reason": change.reason.value,
            "event_id": payload["event_id"],
            "position": position,
        }
    )
    header_values = (payload["event_id"], change.status.value)
    return Message(
        topics.settlement,
        change.card_number.encode(),
        value,
        _headers(SETTLEMENT_HEADERS, header_values),
    )


def _headers(names: Sequence[str], values: Sequence[str]) -> Headers:
    return [(name, value.encode()) for name, value in zip(names, values, strict=True)]


def parse_card_event(value: bytes) -> EventEnvelope:
    """Validate a card-events message fully, payload included, against its typed envelope."""
    message = CardEventMessage.model_validate_json(value)
    root: EventEnvelope = message.root
    return root


def parse_claim_event(value: bytes) -> EventEnvelope:
    """Validate a reimbursement-events message fully against its typed envelope."""
    message = ClaimEventMessage.model_validate_json(value)
    root: EventEnvelope = message.root
    return root
