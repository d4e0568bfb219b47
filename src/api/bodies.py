"""What a command's request body holds: the facts of the act, never who acts or where (those come
from the token). Each is validated before anything reaches the store; a field that does not
validate is named in the 422 answer."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from domain.cardholder.events import (
    Applicant,
    CardKind,
    DamageCause,
    ErasureReason,
    FeeWaiver,
    IdentityDocument,
    PreReportCancelReason,
    ProxyScope,
)
from domain.claims.events import Bill, ClaimDocument, RejectionReason
from domain.region_policy import ProxyDocument, ProxyGrounds


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HolderLookupBody(_Body):
    holder: str = Field(description="the holder's resident ID number", max_length=64)


class ClaimFiling(_Body):
    """A bill paid at a designated hospital while the holder's card was blocked."""

    hospital_code: str = Field(description="designated hospital code, e.g. H11010500007")
    treatment_date: date = Field(description="local date of treatment")
    invoice_number: str
    bill: Bill
    documents: list[ClaimDocument] = Field(min_length=1)
    certificate: str | None = Field(
        default=None, description="the collection certificate's number, when it was shown"
    )


class ClaimRejectionBody(_Body):
    reason: RejectionReason
    explanation: str = Field(description="what the holder is told (up to 500 characters)")


class ClaimPaymentBody(_Body):
    payment_reference: str = Field(description="the payment's reference (bank, fund)")


class ClaimWithdrawalBody(_Body):
    explanation: str | None = Field(default=None, description="why, in the holder's words")


class PreReportBody(_Body):
    """A loss pre-report: at the clerk's outlet (the token's), or online by the holder."""

    identity_document: IdentityDocument | None = Field(
        default=None, description="what identified the holder (default: the channel's own)"
    )


class CollectionBody(_Body):
    """The new card handed over at the outlet, against the collection certificate."""

    holder: str = Field(description="the holder's resident ID number")
    certificate: str = Field(description="the collection certificate's number")
    collected_by: Applicant = Applicant.HOLDER
    agent_resident_id: str | None = None
    identity_document: IdentityDocument = IdentityDocument.RESIDENT_ID_CARD


class ActivationBody(_Body):
    holder: str = Field(description="the holder's resident ID number")
    card_number: str


class ProductionRow(_Body):
    certificate: str
    new_card_number: str
    produced_at: str = Field(description="ISO 8601 instant with its offset")


class ProductionBatchBody(_Body):
    """The production centre's batch: each row recorded on its own (its own answer)."""

    batch_id: str | None = None
    rows: list[ProductionRow] = Field(min_length=1)


class CardIssueBody(_Body):
    """A first card issued at the clerk's outlet."""

    holder: str = Field(description="the holder's resident ID number")
    holder_name: str
    region_code: str = Field(description="the holder's region (6 digits), e.g. 110000")
    card_number: str
    card_kind: CardKind = CardKind.SOCIAL_SECURITY_CARD
    issued_on: date | None = Field(default=None, description="default: today, local date")


class PreReportCancellationBody(_Body):
    holder: str = Field(description="the holder's resident ID number")
    reason: PreReportCancelReason = PreReportCancelReason.CARD_FOUND


class LossReportBody(_Body):
    """A formal loss report at the outlet: the card is cancelled and a new one applied for."""

    holder: str = Field(description="the holder's resident ID number")
    applicant: Applicant = Applicant.HOLDER
    agent_resident_id: str | None = None
    identity_documents: list[ProxyDocument] = Field(min_length=1)
    collection_outlet: str
    fee_waiver: FeeWaiver | None = None
    photo_provided: bool = False


class ProxyAuthorizationBody(_Body):
    holder: str = Field(description="the holder's resident ID number")
    agent_resident_id: str
    agent_name: str
    scope: list[ProxyScope] = Field(min_length=1)
    grounds: ProxyGrounds = ProxyGrounds.OTHER
    documents: list[ProxyDocument] = Field(min_length=1)
    relationship: str | None = None


class DamagedCardBody(_Body):
    holder: str = Field(description="the holder's resident ID number")
    cause: DamageCause
    applicant: Applicant = Applicant.HOLDER
    agent_resident_id: str | None = None
    identity_documents: list[ProxyDocument] = Field(min_length=1)
    collection_outlet: str
    photo_provided: bool = False


class ErasureBody(_Body):
    reason: ErasureReason
