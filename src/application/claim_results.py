"""What the claim commands and queries answer: the output contract of ``sscard claims`` (and of
the HTTP API to come).

Field names are the same in every model: ``claim_id``; ``holder_id`` is the holder's ID number
masked (``110105***********X``), ``holder_stream_id`` the stream that keeps their card;
``claim_status`` is the claim's own status (``status`` is the answer's, as in every result).
Instants carry the claim's region's offset (``2026-12-04T09:00:00+08:00``), dates are the
region's local dates, money is a yuan string with two places with its fen beside it.

A claim's medical details read as ``[erased]`` once its holder is erased: the strings say so,
the structured ones (bill, documents) are ``null`` and ``medical_details_erased`` is true.

This module imports nothing heavier than pydantic: the command line loads it for ``--help``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from application.results import Result, Status
from domain.event import Actor


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class BillAmounts(_Part):
    """The bill as filed."""

    total_yuan: str
    total_fen: int
    in_scope_yuan: str
    in_scope_fen: int
    fully_self_paid_yuan: str
    fully_self_paid_fen: int


class ComputationLine(_Part):
    """One step of the computation as a claims officer reads it."""

    what: str
    value: str


class ComputationResult(_Part):
    """How the payable amount was reached: the inputs, each step, and the same as lines."""

    in_scope_yuan: str
    in_scope_fen: int
    deductible_yuan: str
    deductible_fen: int
    deductible_used_before_yuan: str
    deductible_used_before_fen: int
    ratio_basis_points: int
    annual_cap_yuan: str
    annual_cap_fen: int
    paid_before_yuan: str
    paid_before_fen: int
    deductible_applied_yuan: str
    deductible_applied_fen: int
    eligible_yuan: str
    eligible_fen: int
    fund_share_yuan: str
    fund_share_fen: int
    cap_remaining_yuan: str
    cap_remaining_fen: int
    payable_yuan: str
    payable_fen: int
    lines: list[ComputationLine]


class WindowResult(_Part):
    """The suspension window the treatment fell in, as the holder's stream showed at filing."""

    card_number: str
    started_at: str
    ended_at: str | None  # None: still open when the claim was filed
    ended_by: str | None


class ClaimStep(_Part):
    """One recorded step of a claim: what it left the claim as, when, by whom, where."""

    claim_status: str
    at: str
    actor: Actor  # role, staff_id, channel: as in the events
    outlet: str | None


EventName = Literal[
    "ReimbursementClaimSubmitted",
    "ReimbursementClaimApproved",
    "ReimbursementClaimRejected",
    "ReimbursementClaimPaid",
    "ReimbursementClaimWithdrawn",
]


class ClaimRecorded(Result):
    """What a claim command recorded: the step, on the claim it belongs to.

    ``status`` is ``recorded``. A retry with the request id of an earlier command answers that
    command's result unchanged (nothing is written) but for ``"replayed": true``."""

    status: Status = "recorded"
    replayed: bool = False
    event: EventName
    claim_id: str
    claim_status: str
    version: int
    # The step's position in the store's log (a command's answer; None in a claim's history).
    store_position: int | None = None
    at: str
    actor: Actor  # role, staff_id, channel: as in the events
    outlet: str | None
    holder_id: str
    holder_stream_id: str
    region_code: str


class ClaimSubmission(ClaimRecorded):
    event: EventName = "ReimbursementClaimSubmitted"
    hospital_code: str
    treatment_date: str
    filed_on: str
    invoice_number: str
    bill: BillAmounts | None
    documents: list[str] | None
    certificate: str | None
    window: WindowResult
    medical_details_erased: bool


class ClaimApproval(ClaimRecorded):
    event: EventName = "ReimbursementClaimApproved"
    decided_on: str
    benefit_year: int
    payable_yuan: str
    payable_fen: int
    computation: ComputationResult


class ClaimRejection(ClaimRecorded):
    event: EventName = "ReimbursementClaimRejected"
    decided_on: str
    reason: str
    rejection_explanation: str


class ClaimPayment(ClaimRecorded):
    event: EventName = "ReimbursementClaimPaid"
    paid_on: str
    paid_yuan: str
    paid_fen: int
    payment_reference: str


class ClaimWithdrawal(ClaimRecorded):
    event: EventName = "ReimbursementClaimWithdrawn"
    withdrawn_on: str
    withdrawal_explanation: str | None


class ClaimFacts(BaseModel):
    """What both ``claims show`` and every row of ``claims list`` give, under the same names:
    the queue's columns. Dates are local; ``age_days`` counts from filing to today (in the
    claim's region) for an open claim, to its decision or withdrawal for a closed one."""

    model_config = ConfigDict(frozen=True)

    claim_id: str
    claim_status: str
    holder_id: str
    holder_stream_id: str
    region_code: str
    filed_on: str
    submitted_at: str
    age_days: int
    decided_on: str | None
    reason: str | None
    benefit_year: int | None
    payable_yuan: str | None
    payable_fen: int | None
    paid_on: str | None
    paid_yuan: str | None
    paid_fen: int | None
    withdrawn_on: str | None


class ListedClaim(ClaimFacts):
    """One row of the claims queue (the claims view: no medical details)."""


class ClaimsListing(Result):
    """``claims list``: the claims of the view, oldest filing first, in one object. ``count``
    is the claims given here; a paged query (the HTTP API) gives one ``page`` of ``page_size``
    of the ``total`` matching (``null`` when not paged: every one is given)."""

    count: int
    claims: list[ListedClaim]
    total: int | None = None
    page: int | None = None
    page_size: int | None = None


class ClaimResult(ClaimFacts, Result):
    """``claims show``: one claim as the store has it, its medical details included."""

    version: int
    hospital_code: str
    hospital_name: str | None  # None: erased, or no longer in the registry
    treatment_date: str
    invoice_number: str
    bill: BillAmounts | None
    documents: list[str] | None
    certificate: str | None
    window: WindowResult
    computation: ComputationResult | None
    rejection_explanation: str | None
    payment_reference: str | None
    withdrawal_explanation: str | None
    medical_details_erased: bool
    steps: list[ClaimStep]
