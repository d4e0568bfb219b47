"""How a claim's recorded steps, its state and the rows of the claims view become the result
models of ``application.claim_results``: local instants in the claim's region, money in yuan
with its fen, the holder's ID number masked."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from application.claim_results import (
    BillAmounts,
    ClaimApproval,
    ClaimPayment,
    ClaimRecorded,
    ClaimRejection,
    ClaimResult,
    ClaimStep,
    ClaimSubmission,
    ClaimWithdrawal,
    ComputationLine,
    ComputationResult,
    ListedClaim,
    WindowResult,
)
from application.results import local_instant, local_instant_or_none, yuan, yuan_or_none
from domain.claims.amounts import Computation
from domain.claims.events import (
    Bill,
    ClaimDocument,
    ClaimEvent,
    ReimbursementClaimApproved,
    ReimbursementClaimPaid,
    ReimbursementClaimRejected,
    ReimbursementClaimSubmitted,
    ReimbursementClaimWithdrawn,
    WindowEvidence,
)
from domain.claims.state import Claim, ClaimStatus
from domain.erasure import ERASED
from domain.hospitals import Hospital
from projections.claims import age_in_days
from projections.public_fields import stored_instant


def local_date(at: datetime, zone: tzinfo) -> str:
    """The region's local date of an instant (what a claims officer calls "the day")."""
    return at.astimezone(zone).date().isoformat()


def bill_amounts(bill: Bill | str) -> BillAmounts | None:
    if not isinstance(bill, Bill):
        return None  # erased
    return BillAmounts(
        total_yuan=yuan(bill.total_fen),
        total_fen=bill.total_fen,
        in_scope_yuan=yuan(bill.in_scope_fen),
        in_scope_fen=bill.in_scope_fen,
        fully_self_paid_yuan=yuan(bill.fully_self_paid_fen),
        fully_self_paid_fen=bill.fully_self_paid_fen,
    )


def computation_result(computation: Computation) -> ComputationResult:
    fen: dict[str, Any] = computation.model_dump()
    money = {
        name.removesuffix("_fen") + "_yuan": yuan(value)
        for name, value in fen.items()
        if name.endswith("_fen")
    }
    lines = [ComputationLine(what=what, value=value) for what, value in computation.lines()]
    return ComputationResult(**fen, **money, lines=lines)


def window_result(window: WindowEvidence, zone: tzinfo) -> WindowResult:
    return WindowResult(
        card_number=window.card_number,
        started_at=local_instant(window.started_at, zone),
        ended_at=local_instant_or_none(window.ended_at, zone),
        ended_by=window.ended_by,
    )


def _documents(documents: frozenset[ClaimDocument] | str) -> list[str] | None:
    if isinstance(documents, str):
        return None  # erased
    return sorted(d.value for d in documents)


def recorded_claim(
    event: ClaimEvent,
    claim: Claim,
    holder_id: str,
    zone: tzinfo,
    replayed: bool,
) -> ClaimRecorded:
    """What a claim command answers: the step it recorded (or, for a retry, the step the first
    call recorded), named on its claim. ``holder_id`` is already masked."""
    common: dict[str, Any] = {
        "replayed": replayed,
        "claim_id": str(event.originator_id),
        "version": event.originator_version,
        "at": local_instant(event.occurred_at, zone),
        "actor": event.actor,
        "outlet": event.outlet,
        "holder_id": holder_id,
        "holder_stream_id": str(event.holder_id),
        "region_code": claim.region_code,
    }
    day = local_date(event.occurred_at, zone)
    match event:
        case ReimbursementClaimSubmitted():
            return ClaimSubmission(
                **common,
                claim_status=ClaimStatus.SUBMITTED.value,
                hospital_code=event.hospital_code,
                treatment_date=str(event.treatment_date),
                filed_on=event.filed_on.isoformat(),
                invoice_number=event.invoice_number,
                bill=bill_amounts(event.bill),
                documents=_documents(event.documents),
                certificate=event.collection_certificate,
                window=window_result(event.window, zone),
                medical_details_erased=event.treatment_date == ERASED,
            )
        case ReimbursementClaimApproved():
            return ClaimApproval(
                **common,
                claim_status=ClaimStatus.APPROVED.value,
                decided_on=day,
                benefit_year=event.benefit_year,
                payable_yuan=yuan(event.payable_fen),
                payable_fen=event.payable_fen,
                computation=computation_result(event.computation),
            )
        case ReimbursementClaimRejected():
            return ClaimRejection(
                **common,
                claim_status=ClaimStatus.REJECTED.value,
                decided_on=day,
                reason=event.reason.value,
                rejection_explanation=event.explanation,
            )
        case ReimbursementClaimPaid():
            return ClaimPayment(
                **common,
                claim_status=ClaimStatus.PAID.value,
                paid_on=day,
                paid_yuan=yuan(event.payable_fen),
                paid_fen=event.payable_fen,
                payment_reference=event.payment_reference,
            )
        case ReimbursementClaimWithdrawn():
            return ClaimWithdrawal(
                **common,
                claim_status=ClaimStatus.WITHDRAWN.value,
                withdrawn_on=day,
                withdrawal_explanation=event.explanation,
            )
    raise TypeError(f"not a claim step: {type(event).__name__}")


def _step_day(claim: Claim, statuses: tuple[ClaimStatus, ...], zone: tzinfo) -> date | None:
    for step in claim.steps:
        if step.status in statuses:
            return step.at.astimezone(zone).date()
    return None


def claim_result(
    claim: Claim, holder_id: str, hospital: Hospital | None, zone: tzinfo, today: date
) -> ClaimResult:
    """``claims show``: the whole claim. ``holder_id`` is already masked; ``today`` is the
    region's local date (for the age of an open claim)."""
    decided = _step_day(claim, (ClaimStatus.APPROVED, ClaimStatus.REJECTED), zone)
    paid = _step_day(claim, (ClaimStatus.PAID,), zone)
    withdrawn = _step_day(claim, (ClaimStatus.WITHDRAWN,), zone)
    payable = claim.payable_fen
    paid_fen = payable if paid is not None else None
    rejection = claim.rejection
    return ClaimResult(
        claim_id=str(claim.id),
        claim_status=claim.status.value,
        holder_id=holder_id,
        holder_stream_id=str(claim.holder_id),
        region_code=claim.region_code,
        filed_on=claim.filed_on.isoformat(),
        submitted_at=local_instant(claim.steps[0].at, zone),
        age_days=age_in_days(
            {
                "filed_on": claim.filed_on.isoformat(),
                "decided_on": _iso(decided),
                "withdrawn_on": _iso(withdrawn),
            },
            today,
        ),
        decided_on=_iso(decided),
        reason=rejection[0].value if rejection else None,
        benefit_year=claim.benefit_year,
        payable_yuan=yuan_or_none(payable),
        payable_fen=payable,
        paid_on=_iso(paid),
        paid_yuan=yuan_or_none(paid_fen),
        paid_fen=paid_fen,
        withdrawn_on=_iso(withdrawn),
        version=claim.version,
        hospital_code=claim.hospital_code,
        hospital_name=hospital.name if hospital else None,
        treatment_date=str(claim.treatment_date),
        invoice_number=claim.invoice_number,
        bill=bill_amounts(claim.bill),
        documents=_documents(claim.documents),
        certificate=claim.collection_certificate,
        window=window_result(claim.window, zone),
        computation=computation_result(claim.computation) if claim.computation else None,
        rejection_explanation=rejection[1] if rejection else None,
        payment_reference=claim.payment_reference,
        withdrawal_explanation=claim.withdrawal_explanation,
        medical_details_erased=claim.erased,
        steps=[
            ClaimStep(
                claim_status=step.status.value,
                at=local_instant(step.at, zone),
                actor=step.actor,
                outlet=step.outlet,
            )
            for step in claim.steps
        ],
    )


def listed_claim(row: dict[str, Any], holder_id: str, zone: tzinfo, today: date) -> ListedClaim:
    """One row of the claims view as ``claims list`` gives it (``holder_id`` already masked;
    ``today`` the region's local date)."""
    return ListedClaim(
        claim_id=row["claim_id"],
        claim_status=row["status"],
        holder_id=holder_id,
        holder_stream_id=row["holder_id"],
        region_code=row["region_code"],
        filed_on=row["filed_on"],
        submitted_at=local_instant(stored_instant(row["submitted_at"]), zone),
        age_days=age_in_days(row, today),
        decided_on=row["decided_on"],
        reason=row["reason"],
        benefit_year=row["benefit_year"],
        payable_yuan=yuan_or_none(row["payable_fen"]),
        payable_fen=row["payable_fen"],
        paid_on=row["paid_on"],
        paid_yuan=yuan_or_none(row["paid_fen"]),
        paid_fen=row["paid_fen"],
        withdrawn_on=row["withdrawn_on"],
    )


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
