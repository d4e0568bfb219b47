"""Claim stories: the commands of each claim step with what a Beijing claims office would record.

Shared by tests (and, later, the demo) so a change to a claim command's shape is made once.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any
from uuid import UUID

from domain.claims.commands import (
    ApproveClaim,
    PayClaim,
    RejectClaim,
    SubmitClaim,
    WithdrawClaim,
)
from domain.claims.events import Bill, ClaimDocument, RejectionReason
from domain.event import Actor, Channel, Role
from samples.stories import CLERK, OUTLET

OFFICER = Actor.staff(Role.CLAIMS_OFFICER, "officer-01")
HOLDER_ONLINE = Actor(role=Role.CARDHOLDER, channel=Channel.ONLINE)
BEIJING_HOSPITAL = "H11010500007"
SHANGHAI_HOSPITAL = "H31010400003"
CLAIM_DOCS = frozenset(
    {ClaimDocument.INVOICE_ORIGINAL, ClaimDocument.ITEMISED_LIST, ClaimDocument.PRESCRIPTION}
)

_invoices = itertools.count(1)


def invoice_number() -> str:
    """A fresh invoice number (unique within the process)."""
    return f"INV-{next(_invoices):08d}"


def bill(total: int = 500_000, in_scope: int | None = None, self_paid: int = 0) -> Bill:
    """Amounts in fen: by default a 5,000-yuan bill, all of it within policy scope."""
    return Bill(
        total_fen=total,
        in_scope_fen=total - self_paid if in_scope is None else in_scope,
        fully_self_paid_fen=self_paid,
    )


def submit(
    rid: str,
    treated_on: date,
    amounts: Bill | None = None,
    invoice: str | None = None,
    hospital: str = BEIJING_HOSPITAL,
    **overrides: Any,
) -> SubmitClaim:
    fields: dict[str, Any] = {
        "resident_id": rid,
        "actor": CLERK,
        "outlet": OUTLET,
        "hospital_code": hospital,
        "treatment_date": treated_on,
        "invoice_number": invoice or invoice_number(),
        "bill": amounts or bill(),
        "documents": CLAIM_DOCS,
    }
    return SubmitClaim(**(fields | overrides))


def approve(claim_id: UUID, actor: Actor = OFFICER) -> ApproveClaim:
    return ApproveClaim(actor=actor, claim_id=claim_id)


def reject(
    claim_id: UUID,
    reason: RejectionReason = RejectionReason.DOCUMENTS_ILLEGIBLE,
    explanation: str = "the itemised list cannot be read",
) -> RejectClaim:
    return RejectClaim(actor=OFFICER, claim_id=claim_id, reason=reason, explanation=explanation)


def pay(claim_id: UUID, reference: str = "PAY-0001") -> PayClaim:
    return PayClaim(actor=OFFICER, claim_id=claim_id, payment_reference=reference)


def withdraw(claim_id: UUID, rid: str, actor: Actor = HOLDER_ONLINE) -> WithdrawClaim:
    outlet = OUTLET if actor.role is Role.OUTLET_CLERK else None
    return WithdrawClaim(actor=actor, outlet=outlet, claim_id=claim_id, resident_id=rid)
