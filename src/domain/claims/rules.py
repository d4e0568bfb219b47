"""Every rule of reimbursement claims, each in the one function named after it.

A rule either returns what the decision needs or raises the typed error that says why not. Dates
are business dates: local dates in the region's time zone, as the holder and the hospital see them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.cardholder.state import Cardholder, SuspensionWindow
from domain.claims.errors import (
    CertificateNotHolders,
    ClaimAlreadyDecided,
    ClaimDetailsErased,
    ClaimDocumentsMissing,
    ClaimNotHolders,
    ClaimNotPayable,
    FilingDeadlinePassed,
    HospitalNotDesignated,
    InvoiceAlreadyClaimed,
    NoReimbursementPolicy,
    TreatmentInFuture,
    TreatmentOutsideWindow,
)
from domain.claims.events import Bill, ClaimDocument, InvoiceNumberReserved
from domain.claims.state import Claim, ClaimStatus
from domain.hospitals import Hospital, HospitalRegistry
from domain.region_policy import RegionPolicy, ReimbursementPolicy

# Proof of the bill and of what was bought; one of prescription or discharge summary suffices.
_ALWAYS_REQUIRED = (ClaimDocument.INVOICE_ORIGINAL, ClaimDocument.ITEMISED_LIST)
_TREATMENT_RECORDS = frozenset({ClaimDocument.PRESCRIPTION, ClaimDocument.DISCHARGE_SUMMARY})


def local_date(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def reimbursement_policy_of(policy: RegionPolicy) -> ReimbursementPolicy:
    """A claim needs a region whose fund repays bills (its deductible, ratio, cap, deadline)."""
    if policy.reimbursement is None:
        raise NoReimbursementPolicy(
            f"region {policy.region_code} ({policy.name}) has no reimbursement policy configured"
        )
    return policy.reimbursement


def hospital_is_designated(registry: HospitalRegistry, code: str) -> Hospital:
    """Only bills of designated institutions (定点医疗机构) are repaid."""
    hospital = registry.find(code)
    if hospital is None:
        raise HospitalNotDesignated(f"{code} is not a designated medical institution")
    return hospital


def treatment_not_in_future(treatment_date: date, today: date) -> None:
    if treatment_date > today:
        raise TreatmentInFuture(
            f"treatment date {treatment_date} is after today ({today}, local time)"
        )


def window_covering(
    holder: Cardholder, treatment_date: date, today: date, zone: ZoneInfo
) -> SuspensionWindow:
    """The suspension window the treatment date lies in, counted in whole local days.

    A window runs from the pre-report (or a formal report without one) to the activation of the
    new card, or to the cancellation or lapse that unblocked the old one; a window still open
    counts up to today. Both end days count: on them the holder could not rely on the card all day.
    """
    for window in holder.suspensions:
        first = local_date(window.started_at, zone)
        last = local_date(window.ended_at, zone) if window.ended_at else today
        if first <= treatment_date <= last:
            return window
    spans = "; ".join(
        f"{local_date(w.started_at, zone)} to "
        f"{local_date(w.ended_at, zone) if w.ended_at else 'today'}"
        for w in holder.suspensions
    )
    raise TreatmentOutsideWindow(
        f"treatment date {treatment_date} lies outside every period in which the holder's card "
        f"was blocked ({spans or 'the card was never blocked'})"
    )


def filed_within_deadline(treatment_date: date, today: date, policy: ReimbursementPolicy) -> date:
    """A claim is filed at the latest ``filing_deadline_days`` after the treatment day.

    Returns the last day of filing."""
    last_day = treatment_date + timedelta(days=policy.filing_deadline_days)
    if today > last_day:
        raise FilingDeadlinePassed(
            f"a bill of {treatment_date} had to be filed by {last_day} "
            f"({policy.filing_deadline_days} days); today is {today}"
        )
    return last_day


def required_documents_present(documents: Collection[ClaimDocument]) -> None:
    """The invoice original, the itemised list, and a prescription or a discharge summary."""
    missing = [d.value for d in _ALWAYS_REQUIRED if d not in documents]
    if not _TREATMENT_RECORDS & set(documents):
        missing.append("prescription or discharge_summary")
    if missing:
        raise ClaimDocumentsMissing(f"a claim needs: {', '.join(missing)}")


def certificate_is_holders(certificate_number: str, owner: UUID | None, holder_id: UUID) -> None:
    """A collection certificate shown as the temporary medical voucher must be the holder's own."""
    if owner != holder_id:
        raise CertificateNotHolders(
            f"collection certificate {certificate_number} was not issued to this holder"
        )


def invoice_not_claimed(
    reservation: InvoiceNumberReserved | None, hospital_code: str, invoice_number: str
) -> None:
    """An invoice is repaid at most once: claimed once, for ever, whatever became of the claim."""
    if reservation is not None:
        raise InvoiceAlreadyClaimed(
            f"invoice {invoice_number} of {hospital_code} was already claimed "
            f"(claim {reservation.claim_id})"
        )


def benefit_year_of(treatment_date: date) -> int:
    """Deductible and cap run per calendar year of the treatment (a local date)."""
    return treatment_date.year


def claim_belongs_to(claim: Claim, holder_id: UUID) -> None:
    if claim.holder_id != holder_id:
        raise ClaimNotHolders(f"claim {claim.id} is not this holder's claim")


def claim_readable(claim: Claim) -> tuple[date, Bill]:
    """A claim is decided on its medical details; an erased holder's claim has none left.
    Returns the treatment date and the bill."""
    if isinstance(claim.treatment_date, date) and isinstance(claim.bill, Bill):
        return claim.treatment_date, claim.bill
    raise ClaimDetailsErased(
        f"claim {claim.id}'s holder was erased: its medical details are gone and it can no "
        "longer be decided or paid"
    )


def can_decide(claim: Claim) -> None:
    """Approval, rejection and withdrawal need a claim still awaiting its decision."""
    if claim.status is not ClaimStatus.SUBMITTED:
        raise ClaimAlreadyDecided(f"claim {claim.id} is already {claim.status.value}")


def can_pay(claim: Claim) -> int:
    """Payment needs an approved, unpaid claim with something to pay. Returns the amount."""
    if claim.status is ClaimStatus.PAID:
        raise ClaimNotPayable(
            f"claim {claim.id} was already paid (reference {claim.payment_reference})"
        )
    if claim.status is not ClaimStatus.APPROVED:
        raise ClaimNotPayable(f"claim {claim.id} is {claim.status.value}, not approved")
    payable = claim.payable_fen or 0
    if payable <= 0:
        raise ClaimNotPayable(
            f"claim {claim.id} was approved with nothing payable (the deductible or the annual "
            "cap absorbed it)"
        )
    return payable
