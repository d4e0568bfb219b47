"""Decisions: given consistent state (the holder, the claim, the benefit ledger, the invoice's
reservation) and a command, the events to record, or a typed refusal.

Pure functions: the clock, ids and the region policy arrive in ``ClaimContext``; what the store
knows arrives as arguments. Every rule is checked before any event is built, so a refusal writes
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from domain.cardholder.rules import not_erased
from domain.cardholder.state import Cardholder
from domain.claims import rules
from domain.claims.amounts import Computation
from domain.claims.authority import check_claim_authority
from domain.claims.commands import (
    ApproveClaim,
    PayClaim,
    RejectClaim,
    SubmitClaim,
    WithdrawClaim,
)
from domain.claims.events import (
    BenefitConsumed,
    ClaimEvent,
    InvoiceNumberReserved,
    ReimbursementClaimApproved,
    ReimbursementClaimPaid,
    ReimbursementClaimRejected,
    ReimbursementClaimSubmitted,
    ReimbursementClaimWithdrawn,
    WindowEvidence,
)
from domain.claims.state import BenefitLedger, Claim
from domain.claims.streams import invoice_stream_id
from domain.event import FIRST_VERSION
from domain.hospitals import HospitalRegistry
from domain.region_policy import RegionPolicy

E = TypeVar("E", bound=ClaimEvent)


@dataclass(frozen=True)
class ClaimContext:
    now: datetime
    policy: RegionPolicy
    new_event_id: Callable[[], UUID]

    @property
    def today(self) -> date:
        """The business date: today in the region's time zone."""
        return rules.local_date(self.now, self.policy.zone)


def _next(cls: type[E], claim: Claim, command: Any, ctx: ClaimContext, **fields: Any) -> E:
    return cls(
        originator_id=claim.id,
        originator_version=claim.version + 1,
        event_id=ctx.new_event_id(),
        occurred_at=ctx.now,
        actor=command.actor,
        outlet=command.outlet,
        holder_id=claim.holder_id,
        **fields,
    )


def submit_claim(
    holder: Cardholder,
    command: SubmitClaim,
    ctx: ClaimContext,
    *,
    claim_id: UUID,
    hospitals: HospitalRegistry,
    invoice: InvoiceNumberReserved | None,
    certificate_owner: UUID | None,
    invoice_key: bytes,
) -> tuple[ReimbursementClaimSubmitted, InvoiceNumberReserved]:
    """The claim's first event and the invoice's reservation (on the invoice's keyed stream),
    to be saved together."""
    check_claim_authority(command)
    not_erased(holder, ctx.policy.zone)
    policy = rules.reimbursement_policy_of(ctx.policy)
    rules.required_documents_present(command.documents)
    hospital = rules.hospital_is_designated(hospitals, command.hospital_code)
    today = ctx.today
    rules.treatment_not_in_future(command.treatment_date, today)
    window = rules.window_covering(holder, command.treatment_date, today, ctx.policy.zone)
    rules.filed_within_deadline(command.treatment_date, today, policy)
    if command.collection_certificate is not None:
        rules.certificate_is_holders(command.collection_certificate, certificate_owner, holder.id)
    rules.invoice_not_claimed(invoice, hospital.code, command.invoice_number)
    submitted = ReimbursementClaimSubmitted(
        originator_id=claim_id,
        originator_version=FIRST_VERSION,
        event_id=ctx.new_event_id(),
        occurred_at=ctx.now,
        actor=command.actor,
        outlet=command.outlet,
        holder_id=holder.id,
        region_code=holder.region_code,
        hospital_code=hospital.code,
        hospital_region_code=hospital.region_code,
        treatment_date=command.treatment_date,
        filed_on=today,
        invoice_number=command.invoice_number,
        bill=command.bill,
        documents=command.documents,
        collection_certificate=command.collection_certificate,
        window=WindowEvidence(
            card_number=window.card_number,
            started_at=window.started_at,
            ended_at=window.ended_at,
            ended_by=window.ended_by,
        ),
    )
    reservation = InvoiceNumberReserved(
        originator_id=invoice_stream_id(hospital.code, command.invoice_number, invoice_key),
        originator_version=FIRST_VERSION,
        event_id=ctx.new_event_id(),
        occurred_at=ctx.now,
        actor=command.actor,
        outlet=command.outlet,
        holder_id=holder.id,
        claim_id=claim_id,
        hospital_code=hospital.code,
        invoice_number=command.invoice_number,
    )
    return submitted, reservation


def approve_claim(
    claim: Claim, ledger: BenefitLedger, command: ApproveClaim, ctx: ClaimContext
) -> tuple[ReimbursementClaimApproved, BenefitConsumed]:
    """The approval and its draw on the benefit ledger, to be saved together.

    ``ledger`` is the holder's ledger for the claim's benefit year as the store has it now; if
    another approval lands first, saving collides on the ledger's version and the office decides
    again on the new totals.
    """
    check_claim_authority(command)
    treatment_date, bill = rules.claim_readable(claim)
    rules.can_decide(claim)
    if (ledger.holder_id, ledger.benefit_year) != (
        claim.holder_id,
        rules.benefit_year_of(treatment_date),
    ):
        raise ValueError(f"ledger {ledger.id} is not the one claim {claim.id} draws on")
    policy = rules.reimbursement_policy_of(ctx.policy)
    computation = Computation.of(
        bill.in_scope_fen, policy, ledger.deductible_used_fen, ledger.paid_fen
    )
    approved = _next(
        ReimbursementClaimApproved,
        claim,
        command,
        ctx,
        benefit_year=ledger.benefit_year,
        payable_fen=computation.payable_fen,
        computation=computation,
    )
    consumed = BenefitConsumed(
        originator_id=ledger.id,
        originator_version=ledger.version + 1,
        event_id=ctx.new_event_id(),
        occurred_at=ctx.now,
        actor=command.actor,
        outlet=command.outlet,
        holder_id=claim.holder_id,
        benefit_year=ledger.benefit_year,
        claim_id=claim.id,
        deductible_applied_fen=computation.deductible_applied_fen,
        payable_fen=computation.payable_fen,
        deductible_used_fen=ledger.deductible_used_fen + computation.deductible_applied_fen,
        paid_fen=ledger.paid_fen + computation.payable_fen,
    )
    return approved, consumed


def reject_claim(
    claim: Claim, command: RejectClaim, ctx: ClaimContext
) -> ReimbursementClaimRejected:
    check_claim_authority(command)
    rules.claim_readable(claim)
    rules.can_decide(claim)
    return _next(
        ReimbursementClaimRejected,
        claim,
        command,
        ctx,
        reason=command.reason,
        explanation=command.explanation,
    )


def pay_claim(claim: Claim, command: PayClaim, ctx: ClaimContext) -> ReimbursementClaimPaid:
    check_claim_authority(command)
    rules.claim_readable(claim)
    payable = rules.can_pay(claim)
    return _next(
        ReimbursementClaimPaid,
        claim,
        command,
        ctx,
        payable_fen=payable,
        payment_reference=command.payment_reference,
    )


def withdraw_claim(
    claim: Claim, holder_id: UUID, command: WithdrawClaim, ctx: ClaimContext
) -> ReimbursementClaimWithdrawn:
    check_claim_authority(command)
    rules.claim_belongs_to(claim, holder_id)
    rules.claim_readable(claim)
    rules.can_decide(claim)
    return _next(ReimbursementClaimWithdrawn, claim, command, ctx, explanation=command.explanation)
