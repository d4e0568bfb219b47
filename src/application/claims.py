"""The claim commands and queries an entry point may call: one function each, a domain command
or a query model in, a result model (``application.claim_results``) out.

The commands go through the card office (every rule lives in the domain); the queue is read
from the claims view (status and amounts only: the public form), one claim in full from the
store. The view knows holders by stream id alone, so the masked ID number of a listed claim's
holder is read from the store, once per holder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from application.claim_answers import claim_result, listed_claim, recorded_claim
from application.claim_results import (
    ClaimApproval,
    ClaimPayment,
    ClaimRecorded,
    ClaimRejection,
    ClaimResult,
    ClaimsListing,
    ClaimSubmission,
    ClaimWithdrawal,
)
from application.store_positions import store_position
from domain.application import CardOffice, Outcome
from domain.claims.commands import ApproveClaim, PayClaim, RejectClaim, SubmitClaim, WithdrawClaim
from domain.claims.events import ClaimEvent
from domain.claims.state import ClaimStatus
from domain.erasure import ERASED
from domain.identifiers import ResidentId, mask_resident_id
from projections import claims as view
from projections.claims import ClaimsView
from projections.public_fields import zones_of
from tracking.envelopes import view_tables
from tracking.store import ViewStore

R = TypeVar("R", bound=ClaimRecorded)


def submit_claim(office: CardOffice, command: SubmitClaim) -> ClaimSubmission:
    """File a claim; its invoice is reserved for good."""
    return _answer(office, office.submit_claim_outcome(command), ClaimSubmission)


def approve_claim(office: CardOffice, command: ApproveClaim) -> ClaimApproval:
    """Approve a submitted claim: the payable amount, computed on the year's deductible and cap."""
    return _answer(office, office.approve_claim_outcome(command), ClaimApproval)


def reject_claim(office: CardOffice, command: RejectClaim) -> ClaimRejection:
    return _answer(office, office.reject_claim_outcome(command), ClaimRejection)


def pay_claim(office: CardOffice, command: PayClaim) -> ClaimPayment:
    return _answer(office, office.pay_claim_outcome(command), ClaimPayment)


def withdraw_claim(office: CardOffice, command: WithdrawClaim) -> ClaimWithdrawal:
    return _answer(office, office.withdraw_claim_outcome(command), ClaimWithdrawal)


def _answer(office: CardOffice, outcome: Outcome[ClaimEvent], expected: type[R]) -> R:
    """The step a command recorded, or for a retry of an earlier request the step that one
    recorded, unchanged but for ``replayed``."""
    event = outcome.event
    assert event is not None, outcome
    claim = office.claim(event.originator_id)
    holder = _masked_holders(office)(event.holder_id)
    zone = office.policies.policy_for(claim.region_code).zone
    result = recorded_claim(event, claim, holder, zone, replayed=outcome.status == "repeated")
    assert isinstance(result, expected), result
    return result.model_copy(update={"store_position": store_position(office, event)})


def show_claim(office: CardOffice, claim_id: UUID, now: datetime | None = None) -> ClaimResult:
    """One claim as the store has it, its medical details included (read as erased once its
    holder is erased)."""
    claim = office.claim(claim_id)
    zone = office.policies.policy_for(claim.region_code).zone
    # An erased holder's medical details read as erased: no hospital to look up.
    hospital = None if claim.hospital_code == ERASED else office.hospitals.find(claim.hospital_code)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    holder = _masked_holders(office)(claim.holder_id)
    return claim_result(claim, holder, hospital, zone, today)


def claim_steps(office: CardOffice, claim_id: UUID) -> list[ClaimRecorded]:
    """Every recorded step of one claim, oldest first, each as its command answered it."""
    claim = office.claim(claim_id)
    zone = office.policies.policy_for(claim.region_code).zone
    holder = _masked_holders(office)(claim.holder_id)
    return [
        recorded_claim(event, claim, holder, zone, replayed=False)
        for event in office.claim_history(claim_id)
    ]


class ClaimsQuery(BaseModel):
    """Which claims of the queue: all, or of one status, of one holder, or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: ClaimStatus | None = None
    resident_id: ResidentId | None = None
    # Or the holder by their stream id (the HTTP API's holder reference).
    holder_stream_id: UUID | None = None
    # Paged (the HTTP API): one page of ``page_size``, oldest filing first. None: every claim.
    page: int | None = Field(default=None, ge=1)
    page_size: int = Field(default=50, ge=1, le=500)


def list_claims(
    office: CardOffice, views: ViewStore, query: ClaimsQuery, now: datetime | None = None
) -> ClaimsListing:
    """The claims of the view, oldest filing first; each with its age in days (to today in its
    region, or to its decision)."""
    at = now or datetime.now(UTC)
    holder = str(office.holder_id(query.resident_id)) if query.resident_id is not None else None
    if query.holder_stream_id is not None:
        holder = str(query.holder_stream_id)
    views.create(view_tables(ClaimsView(zones_of(office.policies))))
    with views.reading() as tx:
        rows = view.claims(tx, query.status.value if query.status else None, holder)
    total = len(rows)
    if query.page is not None:
        start = (query.page - 1) * query.page_size
        rows = rows[start : start + query.page_size]
    zone = zones_of(office.policies)
    masked = _masked_holders(office)
    listed = [
        listed_claim(
            row,
            masked(UUID(row["holder_id"])),
            zone(row["region_code"]),
            at.astimezone(zone(row["region_code"])).date(),
        )
        for row in rows
    ]
    if query.page is None:
        return ClaimsListing(count=len(listed), claims=listed)
    return ClaimsListing(
        count=len(listed),
        claims=listed,
        total=total,
        page=query.page,
        page_size=query.page_size,
    )


def claim_holder(office: CardOffice, claim_id: UUID) -> str | None:
    """The resident ID number of a claim's holder: what an entry point scopes a request about
    the claim by (a cardholder reads and withdraws their own claims only). None once the
    holder is erased: the claim is nobody's to ask about as a holder."""
    resident_id = office.holder_by_id(office.claim(claim_id).holder_id).resident_id
    return None if resident_id == ERASED else resident_id


def _masked_holders(office: CardOffice) -> Callable[[UUID], str]:
    """The masked ID number of a holder by stream id, read from the store once per holder."""
    known: dict[UUID, str] = {}

    def masked(holder_id: UUID) -> str:
        if holder_id not in known:
            known[holder_id] = mask_resident_id(office.holder_by_id(holder_id).resident_id)
        return known[holder_id]

    return masked
