"""How the CLI shows claims: one line per recorded step, the whole claim on ``show``, money in
yuan with two places, times in the region's local time with their offset, ID numbers masked."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.claims.amounts import Computation, format_yuan
from domain.claims.events import (
    Bill,
    ClaimEvent,
    ReimbursementClaimApproved,
    ReimbursementClaimPaid,
    ReimbursementClaimRejected,
    ReimbursementClaimSubmitted,
    ReimbursementClaimWithdrawn,
)
from domain.claims.state import Claim
from domain.erasure import ERASED
from domain.hospitals import Hospital


def local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).isoformat(sep=" ", timespec="seconds")


def yuan(fen: int) -> str:
    return f"{format_yuan(fen)} yuan"


def describe_claim_event(event: ClaimEvent, zone: ZoneInfo) -> str:
    """A claims officer's sentence about one claim event."""
    claim = f"claim {event.originator_id}"
    match event:
        case ReimbursementClaimSubmitted():
            window_end = (
                f"to {local(event.window.ended_at, zone)}" if event.window.ended_at else "(open)"
            )
            amounts = (
                f"total {yuan(event.bill.total_fen)}, in scope {yuan(event.bill.in_scope_fen)}"
                if isinstance(event.bill, Bill)
                else f"bill {ERASED}"
            )
            return (
                f"{claim} submitted: treatment {event.treatment_date} at {event.hospital_code}, "
                f"invoice {event.invoice_number}, {amounts}; card {event.window.card_number} "
                f"blocked from {local(event.window.started_at, zone)} {window_end}"
            )
        case ReimbursementClaimApproved():
            return f"{claim} approved: payable {yuan(event.payable_fen)}"
        case ReimbursementClaimRejected():
            return f"{claim} rejected ({event.reason.value}): {event.explanation}"
        case ReimbursementClaimPaid():
            return f"{claim} paid {yuan(event.payable_fen)}, reference {event.payment_reference}"
        case ReimbursementClaimWithdrawn():
            because = f": {event.explanation}" if event.explanation else ""
            return f"{claim} withdrawn{because}"
    return f"{claim}: {type(event).__name__}"


def claim_event_line(event: ClaimEvent, zone: ZoneInfo) -> str:
    outlet = f" @{event.outlet}" if event.outlet else ""
    return (
        f"v{event.originator_version:<3} {local(event.occurred_at, zone)} "
        f"{event.actor.describe()}{outlet}: {describe_claim_event(event, zone)}"
    )


def computation_lines(computation: Computation) -> list[str]:
    return [f"  {what:<44} {value}" for what, value in computation.lines()]


def claim_summary(
    claim: Claim, holder: str, hospital: Hospital | None, zone: ZoneInfo
) -> list[str]:
    """Everything a claims officer needs to see about one claim, oldest step first."""
    window = claim.window
    window_end = f"to {local(window.ended_at, zone)}" if window.ended_at else "(open at filing)"
    hospital_name = (
        f" {hospital.name}"
        if hospital
        else ""
        if claim.hospital_code == ERASED
        else " (no longer in the registry)"
    )
    bill = claim.bill
    amounts = (
        f"total {yuan(bill.total_fen)}, within policy scope {yuan(bill.in_scope_fen)}, "
        f"fully self-paid {yuan(bill.fully_self_paid_fen)}"
        if isinstance(bill, Bill)
        else ERASED
    )
    lines = [
        f"claim       {claim.id} (version {claim.version})",
        f"status      {claim.status.value}",
        f"holder      {holder} (region {claim.region_code}, stream {claim.holder_id})",
        f"hospital    {claim.hospital_code}{hospital_name}",
        f"treatment   {claim.treatment_date}, filed {claim.filed_on} (local dates)",
        f"invoice     {claim.invoice_number}",
        f"bill        {amounts}",
        f"documents   {_documents(claim)}",
        f"window      card {window.card_number} blocked from {local(window.started_at, zone)} "
        f"{window_end}",
    ]
    if claim.collection_certificate:
        lines.append(f"voucher     collection certificate {claim.collection_certificate}")
    if claim.computation is not None:
        lines.append(f"computation benefit year {claim.benefit_year}")
        lines += computation_lines(claim.computation)
        lines.append(f"payable     {yuan(claim.computation.payable_fen)}")
    if claim.rejection is not None:
        reason, explanation = claim.rejection
        lines.append(f"rejected    {reason.value}: {explanation}")
    if claim.payment_reference:
        lines.append(f"paid        reference {claim.payment_reference}")
    if claim.withdrawal_explanation:
        lines.append(f"withdrawn   {claim.withdrawal_explanation}")
    lines.append("steps")
    for step in claim.steps:
        outlet = f" @{step.outlet}" if step.outlet else ""
        lines.append(
            f"  {local(step.at, zone)} {step.status.value:<10} {step.actor.describe()}{outlet}"
        )
    return lines


def _documents(claim: Claim) -> str:
    if isinstance(claim.documents, str):
        return claim.documents  # erased
    return ", ".join(sorted(d.value for d in claim.documents))


def claim_json(claim: Claim, holder: str, zone: ZoneInfo) -> dict[str, Any]:
    """The claim as JSON: fen as integers, yuan as two-place strings, times local with offset."""
    payable = claim.payable_fen
    return {
        "claim_id": str(claim.id),
        "version": claim.version,
        "status": claim.status.value,
        "holder": holder,
        "holder_id": str(claim.holder_id),
        "region_code": claim.region_code,
        "hospital_code": claim.hospital_code,
        "treatment_date": str(claim.treatment_date),
        "filed_on": claim.filed_on.isoformat(),
        "invoice_number": claim.invoice_number,
        "bill": claim.bill.model_dump(mode="json") if isinstance(claim.bill, Bill) else ERASED,
        "documents": (
            ERASED if isinstance(claim.documents, str) else sorted(d.value for d in claim.documents)
        ),
        "collection_certificate": claim.collection_certificate,
        "window": claim.window.model_dump(mode="json"),
        "benefit_year": claim.benefit_year,
        "computation": claim.computation.model_dump(mode="json") if claim.computation else None,
        "payable_fen": payable,
        "payable_yuan": format_yuan(payable) if payable is not None else None,
        "rejection": (
            {"reason": claim.rejection[0].value, "explanation": claim.rejection[1]}
            if claim.rejection
            else None
        ),
        "payment_reference": claim.payment_reference,
        "steps": [
            {
                "status": step.status.value,
                "at": step.at.astimezone(zone).isoformat(),
                "actor": step.actor.describe(),
                "outlet": step.outlet,
            }
            for step in claim.steps
        ],
    }


# The statuses of the claims view (``projections.claims``).
CLAIM_STATUSES = ["submitted", "approved", "rejected", "paid", "withdrawn"]


def _yuan_or_none(fen: int | None) -> str | None:
    return None if fen is None else format_yuan(fen)


def listed_claim(row: dict[str, Any]) -> dict[str, Any]:
    """One row of the claims view as ``claims list --json`` prints it (amounts in yuan)."""
    return {
        "claim_id": row["claim_id"],
        "holder_id": row["holder_id"],
        "region_code": row["region_code"],
        "status": row["status"],
        "filed_on": row["filed_on"],
        "age_days": row["age_days"],
        "decided_on": row["decided_on"],
        "reason": row["reason"],
        "payable_yuan": _yuan_or_none(row["payable_fen"]),
        "paid_on": row["paid_on"],
        "paid_yuan": _yuan_or_none(row["paid_fen"]),
    }


def listed_claim_line(claim: dict[str, Any]) -> str:
    """One line of ``claims list``: id, status, age, amounts."""
    parts = [
        claim["claim_id"],
        f"{claim['status']:<9}",
        f"filed {claim['filed_on']}",
        f"{claim['age_days']} days",
    ]
    if claim["payable_yuan"] is not None:
        parts.append(f"payable {claim['payable_yuan']} yuan")
    if claim["paid_yuan"] is not None:
        parts.append(f"paid {claim['paid_yuan']} yuan on {claim['paid_on']}")
    if claim["reason"] is not None:
        parts.append(f"reason {claim['reason']}")
    return "  ".join(parts)
