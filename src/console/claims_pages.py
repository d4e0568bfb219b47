"""The claims queue: claims of one status (submitted first, oldest filing first) from the claims
view, each opened to the claim as the store has it (bill, suspension window, the computation
of the payable amount once decided, every step), with the claims officer's actions (approve,
reject with a reason, record the payment) as POST forms with the CSRF token, answered by a
redirect to the claim (post/redirect/get). A cardholder sees their own claims only."""

from __future__ import annotations

import uuid
from typing import Annotated
from uuid import UUID

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.state import backoffice_of, office_of
from application import claims
from console.access import Permitted
from console.render import BASE, page
from domain.authority import PERMISSIONS, AccessRole, Action
from domain.claims.commands import ApproveClaim, PayClaim, RejectClaim
from domain.claims.events import RejectionReason
from domain.claims.state import ClaimStatus

_REQUEST_ID = r"^[A-Za-z0-9._:-]{1,64}$"
RequestIdField = Annotated[str | None, Form(pattern=_REQUEST_ID)]
PAGE_SIZE = 50


def add_claims_pages(console: FastAPI) -> None:
    @console.get("/claims")
    def claims_queue(
        request: Request,
        identity: Permitted,
        status: ClaimStatus | None = ClaimStatus.SUBMITTED,
        page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    ) -> Response:
        own = identity.holder if identity.role is AccessRole.CARDHOLDER else None
        query = claims.ClaimsQuery(
            status=status, resident_id=own, page=page_number, page_size=PAGE_SIZE
        )
        backoffice = backoffice_of(request)
        listing = claims.list_claims(backoffice.office, backoffice.views, query)
        return page(
            request,
            "claims.html",
            identity=identity,
            listing=listing,
            status=status,
            statuses=list(ClaimStatus),
        )

    @console.get("/claims/{claim_id}")
    def claim(request: Request, claim_id: UUID, identity: Permitted) -> Response:
        found = claims.show_claim(office_of(request), claim_id)
        allowed = PERMISSIONS[identity.role]
        return page(
            request,
            "claim.html",
            identity=identity,
            claim=found,
            may_decide=Action.DECIDE_CLAIM in allowed
            and found.claim_status == ClaimStatus.SUBMITTED,
            may_pay=Action.PAY_CLAIM in allowed and found.claim_status == ClaimStatus.APPROVED,
            reasons=list(RejectionReason),
            form_id=_form_id,
        )

    @console.post("/claims/{claim_id}/approval")
    def approve(
        request: Request, claim_id: UUID, identity: Permitted, request_id: RequestIdField = None
    ) -> Response:
        command = ApproveClaim(request_id=request_id, actor=identity.actor(), claim_id=claim_id)
        claims.approve_claim(office_of(request), command)
        return _back_to_claim(claim_id, "done.approved")

    @console.post("/claims/{claim_id}/rejection")
    def reject(
        request: Request,
        claim_id: UUID,
        identity: Permitted,
        reason: Annotated[RejectionReason, Form()],
        explanation: Annotated[str, Form(min_length=1, max_length=500)],
        request_id: RequestIdField = None,
    ) -> Response:
        command = RejectClaim(
            request_id=request_id,
            actor=identity.actor(),
            claim_id=claim_id,
            reason=reason,
            explanation=explanation,
        )
        claims.reject_claim(office_of(request), command)
        return _back_to_claim(claim_id, "done.rejected")

    @console.post("/claims/{claim_id}/payment")
    def pay(
        request: Request,
        claim_id: UUID,
        identity: Permitted,
        payment_reference: Annotated[str, Form(min_length=1, max_length=64)],
        request_id: RequestIdField = None,
    ) -> Response:
        command = PayClaim(
            request_id=request_id,
            actor=identity.actor(),
            claim_id=claim_id,
            payment_reference=payment_reference,
        )
        claims.pay_claim(office_of(request), command)
        return _back_to_claim(claim_id, "done.paid")


def _form_id() -> str:
    """A form's request id: a retried (double-clicked) form records once."""
    return uuid.uuid4().hex


def _back_to_claim(claim_id: UUID, done: str) -> Response:
    return RedirectResponse(f"{BASE}/claims/{claim_id}?done={done}", status_code=303)
