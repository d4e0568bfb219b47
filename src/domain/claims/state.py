"""A claim's state and a benefit ledger's state, each rebuilt from its stream by ``apply``.

Immutable, like the cardholder's: a cached state is never corrupted by a command that failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from domain.claims.amounts import Computation
from domain.claims.events import (
    BenefitConsumed,
    Bill,
    ClaimDocument,
    ReimbursementClaimApproved,
    ReimbursementClaimPaid,
    ReimbursementClaimRejected,
    ReimbursementClaimSubmitted,
    ReimbursementClaimWithdrawn,
    RejectionReason,
    WindowEvidence,
)
from domain.erasure import ERASED, ErasedMarker
from domain.event import Actor, DomainEvent


class ClaimStatus(StrEnum):
    SUBMITTED = "submitted"  # filed, awaiting a claims officer's decision
    APPROVED = "approved"  # payable amount fixed; awaiting payment
    REJECTED = "rejected"
    PAID = "paid"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Step:
    """One recorded step of a claim's life: what, when, by whom."""

    status: ClaimStatus
    at: datetime
    actor: Actor
    outlet: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    id: UUID
    version: int
    holder_id: UUID
    region_code: str
    hospital_code: str
    treatment_date: date | ErasedMarker  # the medical details read as erased once the
    filed_on: date  # holder is erased (crypto-shredding)
    invoice_number: str
    bill: Bill | ErasedMarker
    documents: frozenset[ClaimDocument] | ErasedMarker
    collection_certificate: str | None
    window: WindowEvidence
    status: ClaimStatus
    steps: tuple[Step, ...]
    benefit_year: int | None = None
    computation: Computation | None = None
    rejection: tuple[RejectionReason, str] | None = None
    payment_reference: str | None = None
    withdrawal_explanation: str | None = None

    @property
    def erased(self) -> bool:
        """The holder was erased: the claim's medical details cannot be read any more."""
        return self.treatment_date == ERASED

    @property
    def payable_fen(self) -> int | None:
        return self.computation.payable_fen if self.computation else None

    @property
    def awaiting_action(self) -> bool:
        """Submitted (to decide), or approved with money still to pay."""
        return self.status is ClaimStatus.SUBMITTED or (
            self.status is ClaimStatus.APPROVED and bool(self.payable_fen)
        )


def apply_claim(claim: Claim | None, event: DomainEvent) -> Claim:
    """Evolve a claim by one event. Events are facts: no rule is checked here."""

    def step(status: ClaimStatus) -> Step:
        return Step(status, event.occurred_at, event.actor, event.outlet)

    if isinstance(event, ReimbursementClaimSubmitted):
        return Claim(
            id=event.originator_id,
            version=event.originator_version,
            holder_id=event.holder_id,
            region_code=event.region_code,
            hospital_code=event.hospital_code,
            treatment_date=event.treatment_date,
            filed_on=event.filed_on,
            invoice_number=event.invoice_number,
            bill=event.bill,
            documents=event.documents,
            collection_certificate=event.collection_certificate,
            window=event.window,
            status=ClaimStatus.SUBMITTED,
            steps=(step(ClaimStatus.SUBMITTED),),
        )
    if claim is None:
        raise ValueError(f"{type(event).__name__} cannot start a claim stream")
    claim = replace(claim, version=event.originator_version)
    match event:
        case ReimbursementClaimApproved():
            return replace(
                claim,
                status=ClaimStatus.APPROVED,
                steps=(*claim.steps, step(ClaimStatus.APPROVED)),
                benefit_year=event.benefit_year,
                computation=event.computation,
            )
        case ReimbursementClaimRejected():
            return replace(
                claim,
                status=ClaimStatus.REJECTED,
                steps=(*claim.steps, step(ClaimStatus.REJECTED)),
                rejection=(event.reason, event.explanation),
            )
        case ReimbursementClaimPaid():
            return replace(
                claim,
                status=ClaimStatus.PAID,
                steps=(*claim.steps, step(ClaimStatus.PAID)),
                payment_reference=event.payment_reference,
            )
        case ReimbursementClaimWithdrawn():
            return replace(
                claim,
                status=ClaimStatus.WITHDRAWN,
                steps=(*claim.steps, step(ClaimStatus.WITHDRAWN)),
                withdrawal_explanation=event.explanation,
            )
    raise ValueError(f"unknown claim event {type(event).__name__}")


def project_claim(claim: Claim | None, events: Iterable[DomainEvent]) -> Claim | None:
    """The projector the repository calls: fold events onto a (possibly cached) claim."""
    for event in events:
        claim = apply_claim(claim, event)
    return claim


@dataclass(frozen=True, slots=True)
class BenefitLedger:
    """What a holder's approved claims consumed of one benefit year's deductible and cap."""

    id: UUID
    version: int
    holder_id: UUID
    benefit_year: int
    deductible_used_fen: int = 0
    paid_fen: int = 0
    claims: tuple[UUID, ...] = ()


def apply_consumption(ledger: BenefitLedger | None, event: DomainEvent) -> BenefitLedger:
    if not isinstance(event, BenefitConsumed):
        raise ValueError(f"unknown benefit ledger event {type(event).__name__}")
    if ledger is None:
        ledger = BenefitLedger(event.originator_id, 0, event.holder_id, event.benefit_year)
    return replace(
        ledger,
        version=event.originator_version,
        deductible_used_fen=ledger.deductible_used_fen + event.deductible_applied_fen,
        paid_fen=ledger.paid_fen + event.payable_fen,
        claims=(*ledger.claims, event.claim_id),
    )


def project_ledger(
    ledger: BenefitLedger | None, events: Iterable[DomainEvent]
) -> BenefitLedger | None:
    for event in events:
        ledger = apply_consumption(ledger, event)
    return ledger


def empty_ledger(ledger_id: UUID, holder_id: UUID, benefit_year: int) -> BenefitLedger:
    """The ledger of a year in which nothing was approved yet (its stream does not exist)."""
    return BenefitLedger(ledger_id, 0, holder_id, benefit_year)
