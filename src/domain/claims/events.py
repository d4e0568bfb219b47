"""What is recorded about reimbursement claims (DESIGN.md 3, Reimbursement).

Three kinds of stream:
- one per claim: submitted, then approved, rejected or withdrawn; an approved claim is paid;
- one per (hospital, invoice number): the invoice's reservation, written with the submission, so
  an invoice is claimed once, for ever, even when two submissions race;
- one benefit ledger per holder and benefit year: what the holder's approved claims consumed of
  the deductible and the annual cap, written with each approval, so two approvals racing on the
  same year collide on its version and the loser recomputes on the new totals.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from domain.claims.amounts import Computation, Fen, PositiveFen, check_bill
from domain.erasure import ERASABLE, Erased
from domain.event import DomainEvent
from domain.hospitals import HospitalCode
from domain.identifiers import CardNumber, CertificateNumber, RegionCode, validate_shape
from domain.references import Reservation

_INVOICE_SHAPE = re.compile(r"^[0-9A-Z][0-9A-Z-]{3,39}$", re.ASCII)
_PAYMENT_REFERENCE_SHAPE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._/-]{3,39}$", re.ASCII)


def validate_invoice_number(value: str) -> str:
    return validate_shape(
        "invoice number",
        _INVOICE_SHAPE,
        "4-40 characters of digits, A-Z and '-', as printed on the invoice",
        value.strip().upper()[:60],
    )


def validate_payment_reference(value: str) -> str:
    return validate_shape(
        "payment reference",
        _PAYMENT_REFERENCE_SHAPE,
        "4-40 characters of letters, digits, '.', '_', '/', '-'",
        value[:60],
    )


InvoiceNumber = Annotated[str, AfterValidator(validate_invoice_number)]
PaymentReference = Annotated[str, AfterValidator(validate_payment_reference)]
Explanation = Annotated[str, Field(min_length=1, max_length=500)]


class ClaimDocument(StrEnum):
    INVOICE_ORIGINAL = "invoice_original"  # 发票原件
    ITEMISED_LIST = "itemised_list"  # 费用明细清单
    PRESCRIPTION = "prescription"  # 处方
    DISCHARGE_SUMMARY = "discharge_summary"  # 出院小结
    # 领卡凭证, shown at the hospital as the temporary medical voucher while the card was blocked.
    COLLECTION_CERTIFICATE = "collection_certificate"


# Sets are stored and published as sorted lists: one event, one JSON form.
ClaimDocumentSet = Annotated[
    frozenset[ClaimDocument],
    PlainSerializer(sorted, return_type=list[ClaimDocument], when_used="json"),
    Field(json_schema_extra={"uniqueItems": True}),
]


class Bill(BaseModel):
    """What the hospital charged, in fen, split as medical insurance splits it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total_fen: PositiveFen
    in_scope_fen: PositiveFen  # 政策范围内: the only part the fund may repay
    fully_self_paid_fen: Fen = 0  # 全自费: never repaid

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_bill(self.total_fen, self.in_scope_fen, self.fully_self_paid_fen)
        return self


class WindowEvidence(BaseModel):
    """The suspension window the treatment date fell in, as the holder's stream showed at filing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    card_number: CardNumber
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None  # None: still open when the claim was filed
    ended_by: str | None = None


class RejectionReason(StrEnum):
    """Why a claims officer turns a filed claim down (what the filing rules cannot see)."""

    DOCUMENTS_NOT_GENUINE = "documents_not_genuine"
    DOCUMENTS_ILLEGIBLE = "documents_illegible"
    BILL_MISMATCH = "bill_mismatch"  # the itemised list does not support the amounts
    OUT_OF_POLICY_SCOPE = "out_of_policy_scope"
    SETTLED_ELSEWHERE = "settled_elsewhere"  # already repaid by another fund or insurer
    OTHER = "other"


class ClaimEvent(DomainEvent):
    """Every claim event names the holder (by stream id, never by ID number)."""

    holder_id: UUID


class ReimbursementClaimSubmitted(ClaimEvent):
    """A bill paid out of pocket while the holder's card was blocked, filed for repayment."""

    region_code: RegionCode  # whose pooled fund repays it: the holder's region at filing
    # The medical details are personal (encrypted at rest with the holder's data key, never
    # published) and read as erased once the holder is erased.
    hospital_code: Annotated[HospitalCode | Erased, ERASABLE]
    hospital_region_code: RegionCode
    treatment_date: Annotated[date | Erased, ERASABLE]  # local date (the region's time zone)
    filed_on: date  # local date
    invoice_number: Annotated[InvoiceNumber | Erased, ERASABLE]
    bill: Annotated[Bill | Erased, ERASABLE]
    documents: Annotated[ClaimDocumentSet | Erased, ERASABLE]
    collection_certificate: CertificateNumber | None = None
    window: WindowEvidence


class ReimbursementClaimApproved(ClaimEvent):
    """The fund will pay ``payable_fen``; ``computation`` shows how, step by step."""

    benefit_year: Annotated[int, Field(ge=2000, le=2999)]
    payable_fen: Fen
    computation: Computation

    @model_validator(mode="after")
    def _payable_is_the_computed_one(self) -> Self:
        if self.payable_fen != self.computation.payable_fen:
            raise ValueError("payable_fen differs from the computation's result")
        return self


class ReimbursementClaimRejected(ClaimEvent):
    reason: RejectionReason
    explanation: Annotated[
        Explanation | Erased, ERASABLE
    ]  # free text about the holder's bill: personal


class ReimbursementClaimPaid(ClaimEvent):
    payable_fen: PositiveFen
    payment_reference: PaymentReference


class ReimbursementClaimWithdrawn(ClaimEvent):
    """The holder takes the claim back before it is decided."""

    explanation: Annotated[Explanation | Erased, ERASABLE] | None = None


class InvoiceNumberReserved(Reservation):
    """The one event of an invoice's stream: which claim holds it.

    Version 2: the stream's id is keyed. A version 1 record sits on the plain id until ``sscard
    db migrate`` moves it (the office looks under both until then)."""

    schema_version: int = 2

    claim_id: UUID
    hospital_code: Annotated[HospitalCode | Erased, ERASABLE]
    invoice_number: Annotated[InvoiceNumber | Erased, ERASABLE]

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Only the stream's id changed (``claims.streams``): no field to bring forward."""
        del state


class BenefitConsumed(DomainEvent):
    """One approval's draw on the holder's deductible and annual cap for a benefit year."""

    holder_id: UUID
    benefit_year: Annotated[int, Field(ge=2000, le=2999)]
    claim_id: UUID
    deductible_applied_fen: Fen
    payable_fen: Fen
    deductible_used_fen: Fen  # running totals after this approval
    paid_fen: Fen


CLAIM_EVENTS: tuple[type[ClaimEvent], ...] = (
    ReimbursementClaimSubmitted,
    ReimbursementClaimApproved,
    ReimbursementClaimRejected,
    ReimbursementClaimPaid,
    ReimbursementClaimWithdrawn,
)

# Every event type the claims write, in any stream.
CLAIMS_WRITE: tuple[type[DomainEvent], ...] = (
    *CLAIM_EVENTS,
    InvoiceNumberReserved,
    BenefitConsumed,
)
