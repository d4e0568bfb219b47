"""Which fields of each event are personal, whose key protects them, and how people see them.

Personal fields (ID numbers, names, an agent's relationship, a claim's medical details) are
encrypted at rest with the holder's data key, erased with it, and never published: the public
form (``contract.public_form``) replaces them with masked or derived facts. People outside an
auditor's unmasked read see a stored event as its ``masked_form``: ID numbers and names masked
in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from domain.cardholder.events import (
    CardCollected,
    CardIssued,
    DamagedCardReplacementApplied,
    LossFormallyReported,
    ProxyAuthorized,
)
from domain.claims.events import (
    InvoiceNumberReserved,
    ReimbursementClaimRejected,
    ReimbursementClaimSubmitted,
    ReimbursementClaimWithdrawn,
)
from domain.event import DomainEvent
from domain.identifiers import mask_name, mask_resident_id


class PersonalKind(StrEnum):
    RESIDENT_ID = "resident_id"  # masked as 110105***********X where shown
    NAME = "name"  # masked as 王** where shown
    DETAIL = "detail"  # never shown outside the authorised screens (claims officers)


_ID, _NAME, _DETAIL = PersonalKind.RESIDENT_ID, PersonalKind.NAME, PersonalKind.DETAIL

# Every personal field of every stored event type: encrypted at rest with the data key of the
# holder the record is about (``data_owner``), erased with it, never published.
PERSONAL_FIELDS: Mapping[type[DomainEvent], Mapping[str, PersonalKind]] = {
    CardIssued: {"resident_id": _ID, "holder_name": _NAME},
    ProxyAuthorized: {"agent_resident_id": _ID, "agent_name": _NAME, "relationship": _DETAIL},
    LossFormallyReported: {"agent_resident_id": _ID},
    DamagedCardReplacementApplied: {"agent_resident_id": _ID},
    CardCollected: {"agent_resident_id": _ID},
    ReimbursementClaimSubmitted: {
        "hospital_code": _DETAIL,
        "treatment_date": _DETAIL,
        "invoice_number": _DETAIL,
        "bill": _DETAIL,
        "documents": _DETAIL,
    },
    ReimbursementClaimRejected: {"explanation": _DETAIL},
    ReimbursementClaimWithdrawn: {"explanation": _DETAIL},
    InvoiceNumberReserved: {"hospital_code": _DETAIL, "invoice_number": _DETAIL},
}


def data_owner(form: Mapping[str, Any]) -> str:
    """The stream id of the holder whose data key protects this record's personal fields:
    the record's own stream for a holder's events, ``holder_id`` for claims and reservations."""
    owner = form.get("holder_id") or form["originator_id"]
    return str(owner)


def masked_form(event_type: type[DomainEvent], form: dict[str, Any]) -> dict[str, Any]:
    """The form as people see it outside an auditor's unmasked read: ID numbers and names
    masked in place (other fields as they are)."""
    personal = PERSONAL_FIELDS.get(event_type)
    if not personal:
        return form
    masked = dict(form)
    for name, kind in personal.items():
        value = masked.get(name)
        if value is None:
            continue
        if kind is PersonalKind.RESIDENT_ID:
            masked[name] = mask_resident_id(value)
        elif kind is PersonalKind.NAME:
            masked[name] = mask_name(value)
    return masked
