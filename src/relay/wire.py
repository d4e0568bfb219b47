"""What goes on the wire: Kafka message envelopes, their keys and headers, and topic names.

Envelopes are their own pydantic types, not the events: the event rides inside as ``payload``
(exactly its stored JSON form), and the envelope adds what a consumer needs before it parses the
payload: type, schema version, stream and position. Changing any of this is a contract change:
bump ``ENVELOPE_VERSION`` and regenerate ``contracts/``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union
from uuid import UUID

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel, create_model

from domain.cardholder.events import CARDHOLDER_EVENTS
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

ENVELOPE_VERSION = 1
Headers = list[tuple[str, bytes]]


class EventEnvelope(BaseModel):
    """The value of a message on ``sscard.card-events`` (key: the holder's stream id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    envelope_version: Literal[1] = 1
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


def _typed_envelope(event_cls: type[DomainEvent]) -> type[EventEnvelope]:
    """The envelope of one event type, with ``event_type`` fixed and ``payload`` typed."""
    name = event_cls.__name__
    # Built at run time from the event classes, so the annotations are values here.
    type_literal: Any = Literal[name]
    version_literal: Any = Literal[current_schema_version(event_cls)]
    return create_model(
        f"{name}Message",
        __base__=EventEnvelope,
        __doc__=f"A {name} event on the card-events topic.",
        event_type=(type_literal, name),
        schema_version=(version_literal, ...),
        payload=(event_cls, ...),
    )


TYPED_ENVELOPES: dict[str, type[EventEnvelope]] = {
    cls.__name__: _typed_envelope(cls) for cls in CARDHOLDER_EVENTS
}

_any_typed_envelope: Any = Union[tuple(TYPED_ENVELOPES.values())]  # noqa: UP007
CardEventMessage: type[RootModel[Any]] = RootModel[
    Annotated[_any_typed_envelope, Field(discriminator="event_type")]
]


class SettlementStatusMessage(BaseModel):
    """The value on the compacted ``sscard.settlement`` topic (key: the card number).

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
        payload=event.model_dump(mode="json"),
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

# Everything else in the store (number reservations, request-id records) is internal
# bookkeeping and never leaves it.
PUBLISHED_EVENTS: tuple[type[DomainEvent], ...] = CARDHOLDER_EVENTS
_PUBLISHED = frozenset(PUBLISHED_EVENTS)


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

    Built from the event's JSON form (``StoredForm``), never from the model: the relay runs this
    for every published event, and the stored form is already the event's contract form."""
    if stored.event_type not in _PUBLISHED:
        return
    yield card_event_message(stored.event_type, stored.form, stored.position, topics)
    form = stored.form
    change = settlement_change(stored.event_type, form.get("card_number", ""), form.get("result"))
    if change is not None:
        yield settlement_status_message(change, form, stored.position, topics)


def public_envelope(stored: StoredForm) -> dict[str, Any]:
    """The envelope of a stored event as it leaves the store: the value of its card-events
    message, as a dict. Every feed of the read models goes through here: the relay encodes it
    for Kafka, and a replay of the store hands it to the projections as it is, so a view rebuilt
    from the store equals the one fed from Kafka (the JSON round trip changes nothing: the form
    holds JSON values only)."""
    payload = stored.form
    return {
        "envelope_version": ENVELOPE_VERSION,
        "event_id": payload["event_id"],
        "event_type": stored.event_type.__name__,
        "schema_version": payload["schema_version"],
        "stream_id": payload["originator_id"],
        "stream_version": payload["originator_version"],
        "position": stored.position,
        "occurred_at": payload["occurred_at"],
        "actor": payload["actor"],
        "outlet": payload["outlet"],
        "payload": payload,
    }


def card_event_message(
    event_type: type[DomainEvent], payload: dict[str, Any], position: int, topics: Topics
) -> Message:
    """The card-events message, from the event's JSON form (``model_dump(mode="json")``).

    Its value is byte for byte ``encode(envelope_of(event, position))`` (a test holds it to
    that), without building the envelope model.
    """
    name = event_type.__name__
    value = orjson.dumps(public_envelope(StoredForm(position, event_type, payload)))
    header_values = (
        payload["event_id"],
        name,
        str(payload["schema_version"]),
        payload["originator_id"],
        str(payload["originator_version"]),
        str(position),
        payload["occurred_at"],
        _describe_actor(payload["actor"]),
    )
    return Message(
        topics.card_events,
        payload["originator_id"].encode(),
        value,
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
