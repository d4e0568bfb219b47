"""The envelope a public payload travels in, its pydantic models, and their parsing.

The envelope adds to the public payload (``contract.public_form``) what a reader needs before it
parses the payload: type, schema version, stream, stream version and position. The relay encodes
``public_envelope`` as the value of a message on the event's feed; a replay of the store hands
the read models this same dict, so a view rebuilt from the store equals one fed from Kafka.
Card events travel on ``card-events`` (key: holder stream id), claim events on
``reimbursement-events`` (key: claim id); the compacted ``settlement`` topic carries
``SettlementStatusMessage`` per card. Changing any of this is a contract change: bump
``ENVELOPE_VERSION`` and regenerate ``contracts/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel, create_model

from contract.public_form import (
    PUBLIC_CARD_EVENTS,
    PUBLIC_CLAIM_EVENTS,
    PUBLIC_MODELS,
    Form,
    StoredForm,
    public_form_of,
)
from domain.event import FIRST_VERSION, Actor, DomainEvent, current_schema_version
from domain.identifiers import CardNumber
from domain.settlement import SettlementReason, SettlementStatus

ENVELOPE_VERSION = 2

# An envelope as readers receive it: the parsed JSON of a message value, or the same dict built
# from the store on a replay.
Envelope = dict[str, Any]

# The public feeds, by the topic's name under the deployment's prefix, and what each carries.
Feed = str
CARD_EVENTS: Feed = "card-events"
CLAIM_EVENTS: Feed = "reimbursement-events"
FEED_EVENTS: dict[Feed, tuple[type[DomainEvent], ...]] = {
    CARD_EVENTS: PUBLIC_CARD_EVENTS,
    CLAIM_EVENTS: PUBLIC_CLAIM_EVENTS,
}


class NotPublished(ValueError):
    """An event type with no public form (internal bookkeeping) asked for its envelope."""


def public_envelope(stored: StoredForm) -> Envelope:
    """The envelope of a stored event: the message value the relay publishes for it (encoded
    as it is: the form holds JSON values, so the JSON round trip changes nothing), and what a
    replay of the store hands the read models."""
    return envelope_of(stored.position, stored.event_type, stored.form)


def envelope_of(position: int, event_type: type[DomainEvent], form: Form) -> Envelope:
    """``public_envelope`` of the event at ``position`` of ``event_type`` and JSON ``form``."""
    return envelope_maker(event_type)(position, form)


MakeEnvelope = Callable[[int, Form], Envelope]
_MAKERS: dict[type[DomainEvent], MakeEnvelope] = {}


def envelope_maker(event_type: type[DomainEvent]) -> MakeEnvelope:
    """The function that makes the envelope of an event of ``event_type`` from its position
    and JSON form: what is known of the type looked up once (a replay makes every envelope of
    a batch with these)."""
    make = _MAKERS.get(event_type)
    if make is None:
        make = _MAKERS[event_type] = _envelope_maker(event_type)
    return make


def _envelope_maker(event_type: type[DomainEvent]) -> MakeEnvelope:
    public = public_form_of(event_type)
    if public is None:
        raise NotPublished(f"{event_type.__name__} is never published")
    name = event_type.__name__

    def make(position: int, form: Form) -> Envelope:
        return {
            "envelope_version": ENVELOPE_VERSION,
            "event_id": form["event_id"],
            "event_type": name,
            "schema_version": form["schema_version"],
            "stream_id": form["originator_id"],
            "stream_version": form["originator_version"],
            "position": position,
            "occurred_at": form["occurred_at"],
            "actor": form["actor"],
            "outlet": form["outlet"],
            "payload": public(form),
        }

    return make


# ---- the models: what the contracts are generated from and what readers validate against ----


class EventEnvelope(BaseModel):
    """The value of a message on ``sscard.card-events`` (key: the holder's stream id) or
    ``sscard.reimbursement-events`` (key: the claim id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    envelope_version: Literal[2] = 2
    event_id: UUID
    event_type: str
    schema_version: int
    stream_id: UUID
    stream_version: Annotated[int, Field(ge=FIRST_VERSION)]
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
    cls.__name__: _typed_envelope(cls, CARD_EVENTS) for cls in PUBLIC_CARD_EVENTS
}
CLAIM_TYPED_ENVELOPES: dict[str, type[EventEnvelope]] = {
    cls.__name__: _typed_envelope(cls, CLAIM_EVENTS) for cls in PUBLIC_CLAIM_EVENTS
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


# ---- parsing -----------------------------------------------------------------------------------


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
