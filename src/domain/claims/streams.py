"""Stream ids of the claims' three kinds of stream (see ``events``).

Invoice and ledger ids are derived from what they are about, so any writer finds the same stream
without a lookup; a claim's id is random, so it reveals nothing and cannot be guessed. An invoice
number is personal: its stream id is keyed (``domain.keyed_digests``), else the id would give the
number back to anyone who enumerates a hospital's invoice numbers. A ledger's id derives from the
holder id, already keyed.
"""

from __future__ import annotations

import uuid
from uuid import UUID

from domain.keyed_digests import keyed_uuid


def new_claim_id() -> UUID:
    return uuid.uuid4()


def plain_invoice_stream_id(hospital_code: str, invoice_number: str) -> UUID:
    """The id an invoice's stream had before ids were keyed (InvoiceNumberReserved version 1),
    and what the keyed id is made from. Invoice numbers are unique per issuing institution, not
    across all of them."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sscard:invoice:{hospital_code}:{invoice_number}")


def invoice_stream_id(hospital_code: str, invoice_number: str, key: bytes) -> UUID:
    return keyed_uuid(key, plain_invoice_stream_id(hospital_code, invoice_number))


def benefit_ledger_id(holder_id: UUID, benefit_year: int) -> UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sscard:benefit-ledger:{holder_id}:{benefit_year}")
