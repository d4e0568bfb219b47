"""Stream ids of the claims' three kinds of stream (see ``events``).

Invoice and ledger ids are derived from what they are about, so any writer finds the same stream
without a lookup; a claim's id is random, so it reveals nothing and cannot be guessed.
"""

from __future__ import annotations

import uuid
from uuid import UUID


def new_claim_id() -> UUID:
    return uuid.uuid4()


def invoice_stream_id(hospital_code: str, invoice_number: str) -> UUID:
    """Invoice numbers are unique per issuing institution, not across all of them."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sscard:invoice:{hospital_code}:{invoice_number}")


def benefit_ledger_id(holder_id: UUID, benefit_year: int) -> UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sscard:benefit-ledger:{holder_id}:{benefit_year}")
