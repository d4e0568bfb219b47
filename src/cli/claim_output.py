"""How the CLI shows claims to people: one line per recorded step, the whole claim on ``show``,
the queue as a table; money in yuan with two places, times in the claim's region's local time
with their offset, ID numbers masked. Everything is read from the result models
(``application.claim_results``): what ``--json`` prints is the same answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from application.claim_results import (
    ClaimApproval,
    ClaimPayment,
    ClaimRecorded,
    ClaimRejection,
    ClaimResult,
    ClaimsListing,
    ClaimSubmission,
    ClaimWithdrawal,
    ComputationLine,
)
from application.results import plural
from cli.tables import print_table
from domain.claims.state import ClaimStatus
from domain.erasure import ERASED

# The statuses of the claims view (``claims list --status``).
CLAIM_STATUSES = [status.value for status in ClaimStatus]


def people(instant: str) -> str:
    """A contract instant (``2026-12-04T09:00:00+08:00``) as people read it: date, time and
    offset, with a space."""
    return datetime.fromisoformat(instant).isoformat(sep=" ", timespec="seconds")


def money(amount: str) -> str:
    return f"{amount} yuan"


def describe_step(result: ClaimRecorded) -> str:
    """A claims officer's sentence about one recorded step."""
    claim = f"claim {result.claim_id}"
    match result:
        case ClaimSubmission():
            window = result.window
            window_end = f"to {people(window.ended_at)}" if window.ended_at else "(open)"
            bill = result.bill
            amounts = (
                f"total {money(bill.total_yuan)}, in scope {money(bill.in_scope_yuan)}"
                if bill is not None
                else f"bill {ERASED}"
            )
            return (
                f"{claim} submitted: treatment {result.treatment_date} at {result.hospital_code}, "
                f"invoice {result.invoice_number}, {amounts}; card {window.card_number} "
                f"blocked from {people(window.started_at)} {window_end}"
            )
        case ClaimApproval():
            return f"{claim} approved: payable {money(result.payable_yuan)}"
        case ClaimRejection():
            return f"{claim} rejected ({result.reason}): {result.rejection_explanation}"
        case ClaimPayment():
            return f"{claim} paid {money(result.paid_yuan)}, reference {result.payment_reference}"
        case ClaimWithdrawal():
            because = f": {result.withdrawal_explanation}" if result.withdrawal_explanation else ""
            return f"{claim} withdrawn{because}"
    return f"{claim}: {result.event}"


def recorded_lines(result: ClaimRecorded) -> list[str]:
    """What a claim command prints: its step (a retry prints exactly what the first call did),
    and for an approval the computation line by line."""
    outlet = f" @{result.outlet}" if result.outlet else ""
    lines = [
        f"v{result.version:<3} {people(result.at)} "
        f"{result.actor.describe()}{outlet}: {describe_step(result)}"
    ]
    if isinstance(result, ClaimApproval):
        lines += computation_lines(result.computation.lines)
    return lines


def computation_lines(lines: Sequence[ComputationLine]) -> list[str]:
    return [f"  {line.what:<44} {line.value}" for line in lines]


def claim_lines(claim: ClaimResult) -> list[str]:
    """Everything a claims officer needs to see about one claim, oldest step first."""
    window = claim.window
    window_end = f"to {people(window.ended_at)}" if window.ended_at else "(open at filing)"
    hospital_name = (
        f" {claim.hospital_name}"
        if claim.hospital_name
        else ""
        if claim.medical_details_erased
        else " (no longer in the registry)"
    )
    bill = claim.bill
    amounts = (
        f"total {money(bill.total_yuan)}, within policy scope {money(bill.in_scope_yuan)}, "
        f"fully self-paid {money(bill.fully_self_paid_yuan)}"
        if bill is not None
        else ERASED
    )
    documents = ", ".join(claim.documents) if claim.documents is not None else ERASED
    lines = [
        f"claim       {claim.claim_id} (version {claim.version})",
        f"status      {claim.claim_status}",
        f"holder      {claim.holder_id} (region {claim.region_code}, stream "
        f"{claim.holder_stream_id})",
        f"hospital    {claim.hospital_code}{hospital_name}",
        f"treatment   {claim.treatment_date}, filed {claim.filed_on} (local dates)",
        f"age         {_age(claim)}",
        f"invoice     {claim.invoice_number}",
        f"bill        {amounts}",
        f"documents   {documents}",
        f"window      card {window.card_number} blocked from {people(window.started_at)} "
        f"{window_end}",
    ]
    if claim.certificate:
        lines.append(f"voucher     collection certificate {claim.certificate}")
    if claim.computation is not None:
        lines.append(f"computation benefit year {claim.benefit_year}")
        lines += computation_lines(claim.computation.lines)
        lines.append(f"payable     {money(claim.computation.payable_yuan)}")
    if claim.reason is not None:
        lines.append(f"rejected    {claim.reason}: {claim.rejection_explanation}")
    if claim.payment_reference:
        lines.append(f"paid        {claim.paid_on}, reference {claim.payment_reference}")
    if claim.withdrawal_explanation:
        lines.append(f"withdrawn   {claim.withdrawal_explanation}")
    lines.append("steps")
    for step in claim.steps:
        outlet = f" @{step.outlet}" if step.outlet else ""
        lines.append(f"  {people(step.at)} {step.claim_status:<10} {step.actor.describe()}{outlet}")
    return lines


def _age(claim: ClaimResult) -> str:
    days = plural(claim.age_days, "day")
    if claim.decided_on is not None:
        return f"{days} from filing to its decision"
    if claim.withdrawn_on is not None:
        return f"{days} from filing to its withdrawal"
    return f"{days} since filing, undecided"


LISTING_HEADERS = (
    "claim",
    "status",
    "holder",
    "filed on",
    "age (days)",
    "payable (yuan)",
    "paid (yuan)",
    "paid on",
    "reason",
)


def print_listing(listing: ClaimsListing) -> None:
    """The queue as a table (local dates, yuan), with its count."""
    print_table(
        LISTING_HEADERS,
        (
            (
                c.claim_id,
                c.claim_status,
                c.holder_id,
                c.filed_on,
                c.age_days,
                c.payable_yuan,
                c.paid_yuan,
                c.paid_on,
                c.reason,
            )
            for c in listing.claims
        ),
        what=("claim", "claims"),
        right=("age (days)", "payable (yuan)", "paid (yuan)"),
    )
