"""The card lifecycle events of one holder's stream (DESIGN.md section 3)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AwareDatetime, Field, PlainSerializer

from domain.erasure import ERASABLE, Erased
from domain.event import Channel, DomainEvent
from domain.identifiers import (
    CardNumber,
    CertificateNumber,
    OutletCode,
    RegionCode,
    ResidentId,
)
from domain.region_policy import LapseOutcome, ProxyDocument, ProxyGrounds
from domain.working_days import DueDateBasis


class CardKind(StrEnum):
    SOCIAL_SECURITY_CARD = "social_security_card"
    # The old medical-insurance IC card: replacing it converts it to a social security card,
    # which needs a one-inch colour photo (the 2nd-generation ID card photo).
    MEDICAL_INSURANCE_IC = "medical_insurance_ic"


class IssueSource(StrEnum):
    ISSUED = "issued"
    IMPORTED = "imported"  # taken over from a legacy card-management system


class IdentityDocument(StrEnum):
    RESIDENT_ID_CARD = "resident_id_card"
    HOUSEHOLD_REGISTER = "household_register"  # 户口簿
    ONLINE_IDENTITY = "online_identity"  # verified by the hotline/online channel itself


class PreReportCancelReason(StrEnum):
    CARD_FOUND = "card_found"
    REPORTED_IN_ERROR = "reported_in_error"


class Applicant(StrEnum):
    HOLDER = "holder"
    AGENT = "agent"


class FeeWaiver(StrEnum):
    WARRANTY_DEFECT = "warranty_defect"
    DATA_ERROR_NOT_BY_HOLDER = "data_error_not_by_holder"


class DamageCause(StrEnum):
    """Why a card is exchanged as damaged; the card's own defect waives the fee."""

    WEAR_OR_ACCIDENT = "wear_or_accident"  # broken, bent, worn out by the holder: fee due
    CARD_DEFECT = "card_defect"  # the chip or the print failed by itself (warranty)
    DATA_ERROR_NOT_BY_HOLDER = "data_error_not_by_holder"


class ProxyScope(StrEnum):
    APPLY = "apply"
    COLLECT = "collect"


class LapseResult(StrEnum):
    UNBLOCKED = "unblocked"
    CANCELLED = "cancelled"


# Names as recorded. Commands check a name strictly (``domain.values.Name``); a stored event is a
# fact, so loading one never re-applies a rule that is newer than the record.
Name = Annotated[str, Field(min_length=1, max_length=64)]

# Sets are published as sorted lists: the same event always has the same JSON, whatever the
# process's hash seed (auditors compare and hash records; consumers diff them).
_UNIQUE = Field(json_schema_extra={"uniqueItems": True})
ScopeSet = Annotated[
    frozenset[ProxyScope],
    PlainSerializer(sorted, return_type=list[ProxyScope], when_used="json"),
    _UNIQUE,
]
DocumentSet = Annotated[
    frozenset[ProxyDocument],
    PlainSerializer(sorted, return_type=list[ProxyDocument], when_used="json"),
    _UNIQUE,
]


# Personal fields (encrypted at rest with the holder's data key, never published) read as the
# erasure marker once the holder is erased; ``domain.disclosure`` lists them per event type.
PersonalId = Annotated[ResidentId | Erased, ERASABLE]
PersonalName = Annotated[Name | Erased, ERASABLE]


class ErasureReason(StrEnum):
    """Why a holder's personal data is erased (PIPL art. 47)."""

    HOLDER_REQUEST = "holder_request"
    RETENTION_ENDED = "retention_ended"
    LEGAL_ORDER = "legal_order"
    DECEASED = "deceased"


class CardIssued(DomainEvent):
    """The holder's stream begins: a card issued, or imported from a legacy system."""

    resident_id: PersonalId
    holder_name: PersonalName
    region_code: RegionCode
    card_number: CardNumber
    card_kind: CardKind
    issued_on: date
    source: IssueSource


class LossPreReported(DomainEvent):
    """预挂失: settlement on the card stops at once; lapses at ``lapses_at`` unless acted on."""

    card_number: CardNumber
    channel: Channel
    identity_document: IdentityDocument
    lapses_at: AwareDatetime
    lapse_outcome: LapseOutcome

    DERIVED_FIELDS: ClassVar[frozenset[str]] = frozenset({"lapses_at"})


class LossPreReportCancelled(DomainEvent):
    """解挂: the card was found before the formal report; settlement resumes."""

    card_number: CardNumber
    pre_report_version: int
    reason: PreReportCancelReason


class LossPreReportLapsed(DomainEvent):
    """Raised by the back office itself at the deadline, exactly once."""

    card_number: CardNumber
    pre_report_version: int
    deadline: AwareDatetime
    result: LapseResult


class ProxyAuthorized(DomainEvent):
    """委托代办: the holder entrusts an agent, whose identity is recorded."""

    agent_resident_id: PersonalId
    agent_name: PersonalName
    scope: ScopeSet
    grounds: ProxyGrounds
    documents: DocumentSet
    relationship: Annotated[Annotated[str, Field(max_length=32)] | Erased, ERASABLE] | None = None


class LossFormallyReported(DomainEvent):
    """正式挂失 with the replacement application (补卡申请); the old card is void for good."""

    card_number: CardNumber
    applicant: Applicant
    agent_resident_id: PersonalId | None = None
    identity_documents: DocumentSet
    collection_outlet: OutletCode
    certificate_number: CertificateNumber
    fee_fen: Annotated[int, Field(ge=0)]
    fee_waiver: FeeWaiver | None = None
    converting_medical_ic: bool
    photo_provided: bool
    production_due_on: date
    production_due_basis: DueDateBasis

    DERIVED_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"certificate_number", "production_due_on", "production_due_basis"}
    )


class DamagedCardReplacementApplied(DomainEvent):
    """损坏换卡: the holder surrenders a damaged card and applies for a new one (no loss report).

    The surrendered card settles no more from this moment; the same production, collection and
    activation steps as after a loss follow."""

    card_number: CardNumber
    cause: DamageCause
    applicant: Applicant
    agent_resident_id: PersonalId | None = None
    identity_documents: DocumentSet
    collection_outlet: OutletCode
    certificate_number: CertificateNumber
    fee_fen: Annotated[int, Field(ge=0)]
    converting_medical_ic: bool
    photo_provided: bool
    production_due_on: date
    production_due_basis: DueDateBasis

    DERIVED_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"certificate_number", "production_due_on", "production_due_basis"}
    )


class CardProduced(DomainEvent):
    """制卡: the new card exists and is dispatched to the collection outlet."""

    certificate_number: CertificateNumber
    new_card_number: CardNumber
    dispatched_to: OutletCode
    batch_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None


class CardCollected(DomainEvent):
    """领卡: handed over at the outlet against ID and certificate; the card stays sealed (封存)."""

    card_number: CardNumber
    certificate_number: CertificateNumber
    collected_by: Applicant
    agent_resident_id: PersonalId | None = None
    identity_document: IdentityDocument


class CardActivated(DomainEvent):
    """启用: the new card becomes the holder's active card; settlement resumes on it."""

    card_number: CardNumber


class HolderErased(DomainEvent):
    """Crypto-shredding: the holder's data key is destroyed, so every personal field of their
    records (and of their claims) reads as erased from now on. Card states, dates, outlets and
    actors stay auditable; no command is accepted for the holder any more."""

    reason: ErasureReason


CARDHOLDER_EVENTS: tuple[type[DomainEvent], ...] = (
    CardIssued,
    LossPreReported,
    LossPreReportCancelled,
    LossPreReportLapsed,
    ProxyAuthorized,
    LossFormallyReported,
    DamagedCardReplacementApplied,
    CardProduced,
    CardCollected,
    CardActivated,
    HolderErased,
)
