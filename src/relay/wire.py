"""What the relay sends: the Kafka messages a stored event becomes, keys and headers included.

The value of an event's message is its public envelope (``contract.envelope.public_envelope``),
encoded as it is: the relay never builds the event or the envelope model for a message it sends
(``tests/unit/test_wire_messages.py`` holds the bytes to the models' encoding, and
``tests/unit/test_published_bytes.py`` to a committed fixture).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from contract.envelope import public_envelope
from contract.public_form import PUBLIC_CARD_EVENTS, PUBLIC_CLAIM_EVENTS, StoredForm
from domain.event import DomainEvent
from domain.settlement import SettlementChange, settlement_change
from relay.topics import Topics

Headers = list[tuple[str, bytes]]

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


def messages_for(stored: StoredForm, topics: Topics) -> Iterator[Message]:
    """The Kafka messages one stored event becomes (none for internal bookkeeping events):
    its card-events or reimbursement-events message (key: the stream id: the holder's, the
    claim's), and for a card event the settlement-status messages it causes (key: the card
    number). Built from the event's JSON form (personal fields opened by the mapper), never
    from the model; what is sent is the public form only."""
    if stored.event_type in _CARD:
        yield _event_message(topics.card_events, stored)
    elif stored.event_type in _CLAIMS:
        yield _event_message(topics.reimbursement_events, stored)
        return
    else:
        return
    form = stored.form
    change = settlement_change(stored.event_type, form.get("card_number", ""), form.get("result"))
    if change is not None:
        yield _settlement_status_message(change, form, stored.position, topics)


def _event_message(topic: str, stored: StoredForm) -> Message:
    envelope = public_envelope(stored)
    form = stored.form
    header_values = (
        form["event_id"],
        envelope["event_type"],
        str(form["schema_version"]),
        form["originator_id"],
        str(form["originator_version"]),
        str(stored.position),
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


def _settlement_status_message(
    change: SettlementChange, form: dict[str, Any], position: int, topics: Topics
) -> Message:
    """The settlement-status message; its value is the ``SettlementStatusMessage`` model's
    encoding, byte for byte, without building the model."""
    value = orjson.dumps(
        {
            "message_version": 1,
            "card_number": change.card_number,
            "status": change.status.value,
            "since": form["occurred_at"],
            "reason": change.reason.value,
            "event_id": form["event_id"],
            "position": position,
        }
    )
    header_values = (form["event_id"], change.status.value)
    return Message(
        topics.settlement,
        change.card_number.encode(),
        value,
        _headers(SETTLEMENT_HEADERS, header_values),
    )


def _headers(names: Sequence[str], values: Sequence[str]) -> Headers:
    return [(name, value.encode()) for name, value in zip(names, values, strict=True)]
