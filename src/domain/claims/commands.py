"""What outlet clerks, claims officers and holders (online) ask of reimbursement claims.

Validated pydantic models, like the card commands: an entry point that cannot build one has bad
input and nothing reaches the store. Each is frozen and compares by content, which is what a
request-id mechanism needs to tell a retry from a different command under the same id.
"""

from __future__ import annotations

from datetime import date
from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, model_validator

from domain.claims.events import (
    Bill,
    ClaimDocument,
    ClaimDocumentSet,
    Explanation,
    InvoiceNumber,
    PaymentReference,
    RejectionReason,
)
from domain.event import Actor
from domain.hospitals import HospitalCode
from domain.identifiers import CertificateNumber, OutletCode, ResidentId
from domain.requests import RequestId


class ClaimCommand(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: Actor
    outlet: OutletCode | None = None
    # The client's id for this request, as on the card commands: a retry with the same id and
    # the same content is answered with the first result and records nothing.
    request_id: RequestId | None = None


class SubmitClaim(ClaimCommand):
    resident_id: ResidentId
    hospital_code: HospitalCode
    treatment_date: date
    invoice_number: InvoiceNumber
    bill: Bill
    documents: ClaimDocumentSet
    collection_certificate: CertificateNumber | None = None

    @model_validator(mode="after")
    def _certificate_named_when_shown(self) -> Self:
        shown = ClaimDocument.COLLECTION_CERTIFICATE in self.documents
        if shown and self.collection_certificate is None:
            raise ValueError("the collection certificate was shown: give its number")
        if self.collection_certificate is not None and not shown:
            raise ValueError(
                "a collection certificate number was given but the certificate is not among "
                "the documents"
            )
        return self


class ClaimDecision(ClaimCommand):
    claim_id: UUID


class ApproveClaim(ClaimDecision):
    pass


class RejectClaim(ClaimDecision):
    reason: RejectionReason
    explanation: Explanation


class PayClaim(ClaimDecision):
    payment_reference: PaymentReference


class WithdrawClaim(ClaimDecision):
    resident_id: ResidentId  # whose claim it is: a holder may withdraw only their own
    explanation: Explanation | None = None
