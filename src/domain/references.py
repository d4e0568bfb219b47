"""Numbers that must belong to exactly one holder, for ever: card numbers and certificates.

Uniqueness across holders cannot live in one holder's stream, so each such number gets a
one-event stream of its own, written in the same transaction as the holder event that introduces
it. A second claim collides on that stream's version 1 and the whole command is rolled back.
The stream also answers "whose card (or certificate) is this?" without any read model, which is
how the production centre, knowing only a certificate number, finds the holder.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from domain.event import FIRST_VERSION, Actor, DomainEvent
from domain.identifiers import CardNumber, CertificateNumber


def card_number_stream_id(card_number: str) -> UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sscard:card-number:{card_number}")


def certificate_stream_id(certificate_number: str) -> UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sscard:certificate:{certificate_number}")


class Reservation(DomainEvent):
    holder_id: UUID


class CardNumberReserved(Reservation):
    card_number: CardNumber


class CertificateNumberReserved(Reservation):
    certificate_number: CertificateNumber


def reserve_card_number(
    card_number: str, holder_id: UUID, at: datetime, actor: Actor
) -> CardNumberReserved:
    return CardNumberReserved(
        originator_id=card_number_stream_id(card_number),
        originator_version=FIRST_VERSION,
        event_id=uuid.uuid4(),
        occurred_at=at,
        actor=actor,
        card_number=card_number,
        holder_id=holder_id,
    )


def reserve_certificate(
    certificate_number: str, holder_id: UUID, at: datetime, actor: Actor
) -> CertificateNumberReserved:
    return CertificateNumberReserved(
        originator_id=certificate_stream_id(certificate_number),
        originator_version=FIRST_VERSION,
        event_id=uuid.uuid4(),
        occurred_at=at,
        actor=actor,
        certificate_number=certificate_number,
        holder_id=holder_id,
    )
