"""The HTTP API: one endpoint per command and query of the application layer, resources in the
path so that the scope of each request reads from its route (``api.access``).

Every endpoint answers the application layer's own ``Result`` model (the output contract that
``sscard --json`` prints); refusals answer the ``Refusal`` model (``api.refusals``). The back office
is opened once per process (lifespan) and closed on shutdown; nothing is kept in the process that
another process serving the same store needs, so several may run behind a load balancer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated
from uuid import UUID

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from api import refusals
from api.access import Authorized, TheHolder
from api.bodies import ClaimFiling, ClaimPaymentBody, ClaimRejectionBody, ClaimWithdrawalBody
from api.card_routes import add_card_routes
from api.counter_routes import add_counter_routes
from api.holder_refs import HolderRefQuery, holder_in_request
from api.idempotency import (
    REPLAYED_HEADER,
    IdempotencyKey,
    command_responses,
    query_responses,
    responses,
)
from api.identity import Identity, verifier_from_settings
from api.middleware import MAX_BODY_BYTES, RequestFrame
from api.paging import Page
from api.read_after import VIEW_BEHIND_RESPONSE, read_after
from api.readiness import Readiness, readiness
from api.state import backoffice_of, office_of
from api.view_routes import add_view_routes
from application import audit, claims, operations, settlement_lookup, views
from application.audit_results import ChainVerification, UnmaskedReadsListing
from application.catalogue import QUEUE_STATUSES, VIEW_NAMES
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
from application.status_results import StatusResult, TickResult
from application.view_results import (
    DeadLettersResult,
    OutletQueueQuery,
    OutletQueueResult,
    SettlementLookup,
)
from console.site import mount_console
from domain.authority import AccessRole
from domain.claims.commands import ApproveClaim, PayClaim, RejectClaim, SubmitClaim, WithdrawClaim
from domain.claims.state import ClaimStatus
from domain.errors import InvalidInput
from domain.event import Actor
from service.bootstrap import open_back_office
from service.settings import Settings

_COMMAND = command_responses()
_QUERY = query_responses()
_VIEW_QUERY = _QUERY | VIEW_BEHIND_RESPONSE


def create_app(settings: Settings) -> FastAPI:
    """The API over the store the settings name. The token verifier is made now (a bad auth
    setting fails the start); the back office is opened when the app starts serving."""
    verifier = verifier_from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.verifier = verifier
        app.state.backoffice = open_back_office(settings)
        try:
            yield
        finally:
            app.state.backoffice.close()

    app = FastAPI(
        title="sscard",
        summary="The back office of social security card loss reporting and replacement",
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(RequestFrame, max_body_bytes=MAX_BODY_BYTES)
    refusals.install(app)
    _claim_routes(app)
    _read_routes(app)
    add_card_routes(app)
    add_counter_routes(app)
    add_view_routes(app)
    _operating_routes(app)
    mount_console(app, settings)  # the web console, at /console (its own pages and refusals)
    return app


def _actor_outlet(identity: Identity) -> tuple[Actor, str | None]:
    """Who the store records, and where: from the token alone."""
    return identity.actor(), identity.outlet


def _recorded(response: Response, result: ClaimRecorded) -> ClaimRecorded:
    """201 for a step just recorded; 200 and ``Idempotent-Replayed: true`` for a retry."""
    if result.replayed:
        response.status_code = 200
        response.headers[REPLAYED_HEADER] = "true"
    return result


def _claim_routes(app: FastAPI) -> None:
    @app.post(
        "/holders/{holder_ref}/claims",
        response_model=ClaimSubmission,
        status_code=201,
        responses=_COMMAND,
        tags=["claims"],
        summary="file a claim for a bill paid while the holder's card was blocked",
    )
    def submit_claim(
        request: Request,
        response: Response,
        body: ClaimFiling,
        identity: Authorized,
        holder: TheHolder,
        idempotency_key: IdempotencyKey = None,
    ) -> ClaimRecorded:
        actor, outlet = _actor_outlet(identity)
        command = SubmitClaim(
            request_id=idempotency_key,
            resident_id=holder.living(),
            actor=actor,
            outlet=outlet,
            hospital_code=body.hospital_code,
            treatment_date=body.treatment_date,
            invoice_number=body.invoice_number,
            bill=body.bill,
            documents=frozenset(body.documents),
            collection_certificate=body.certificate,
        )
        return _recorded(response, claims.submit_claim(office_of(request), command))

    @app.post(
        "/claims/{claim_id}/approval",
        response_model=ClaimApproval,
        status_code=201,
        responses=_COMMAND,
        tags=["claims"],
        summary="approve a claim: the payable amount, computed on the year's deductible and cap",
    )
    def approve_claim(
        request: Request,
        response: Response,
        claim_id: UUID,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> ClaimRecorded:
        command = ApproveClaim(
            request_id=idempotency_key, actor=identity.actor(), claim_id=claim_id
        )
        return _recorded(response, claims.approve_claim(office_of(request), command))

    @app.post(
        "/claims/{claim_id}/rejection",
        response_model=ClaimRejection,
        status_code=201,
        responses=_COMMAND,
        tags=["claims"],
        summary="turn a submitted claim down, with a reason code and an explanation",
    )
    def reject_claim(
        request: Request,
        response: Response,
        claim_id: UUID,
        body: ClaimRejectionBody,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> ClaimRecorded:
        command = RejectClaim(
            request_id=idempotency_key,
            actor=identity.actor(),
            claim_id=claim_id,
            reason=body.reason,
            explanation=body.explanation,
        )
        return _recorded(response, claims.reject_claim(office_of(request), command))

    @app.post(
        "/claims/{claim_id}/payment",
        response_model=ClaimPayment,
        status_code=201,
        responses=_COMMAND,
        tags=["claims"],
        summary="record the payment of an approved claim",
    )
    def pay_claim(
        request: Request,
        response: Response,
        claim_id: UUID,
        body: ClaimPaymentBody,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> ClaimRecorded:
        command = PayClaim(
            request_id=idempotency_key,
            actor=identity.actor(),
            claim_id=claim_id,
            payment_reference=body.payment_reference,
        )
        return _recorded(response, claims.pay_claim(office_of(request), command))

    @app.post(
        "/claims/{claim_id}/withdrawal",
        response_model=ClaimWithdrawal,
        status_code=201,
        responses=_COMMAND,
        tags=["claims"],
        summary="withdraw a claim not yet decided, for its holder",
    )
    def withdraw_claim(
        request: Request,
        response: Response,
        claim_id: UUID,
        body: ClaimWithdrawalBody,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> ClaimRecorded:
        office = office_of(request)
        actor, outlet = _actor_outlet(identity)
        command = WithdrawClaim(
            request_id=idempotency_key,
            actor=actor,
            outlet=outlet,
            claim_id=claim_id,
            resident_id=claims.claim_holder(office, claim_id) or "",  # erased: refused
            explanation=body.explanation,
        )
        return _recorded(response, claims.withdraw_claim(office, command))

    @app.get(
        "/claims/{claim_id}",
        response_model=ClaimResult,
        responses=_QUERY,
        tags=["claims"],
        summary="one claim as the store has it: bill, window, computation, steps",
    )
    def show_claim(request: Request, claim_id: UUID, _identity: Authorized) -> ClaimResult:
        return claims.show_claim(office_of(request), claim_id)

    @app.get(
        "/claims",
        response_model=ClaimsListing,
        responses=_VIEW_QUERY,
        tags=["claims"],
        summary="the claims queue from the claims view, oldest filing first, paged",
    )
    def list_claims(
        request: Request,
        identity: Authorized,
        _reached: Annotated[None, read_after("claims")],
        status: ClaimStatus | None = None,
        holder_ref: HolderRefQuery = None,
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> ClaimsListing:
        named = None if holder_ref is None else holder_in_request(request).stream_id
        own = identity.holder if named is None and identity.role is AccessRole.CARDHOLDER else None
        query = claims.ClaimsQuery(
            status=status,
            resident_id=own,
            holder_stream_id=named,
            page=page,
            page_size=page_size,
        )
        backoffice = backoffice_of(request)
        return claims.list_claims(backoffice.office, backoffice.views, query)


_QUEUE_STATUS = "^(" + "|".join(QUEUE_STATUSES) + ")$"
_VIEW_NAME = "^(" + "|".join(VIEW_NAMES) + ")$"


def _read_routes(app: FastAPI) -> None:
    @app.get(
        "/outlets/{outlet}/queue",
        response_model=OutletQueueResult,
        responses=_VIEW_QUERY,
        tags=["outlets"],
        summary="the outlet's queue: counts per status, one page of one status, oldest first",
    )
    def outlet_queue(
        request: Request,
        outlet: str,
        _identity: Authorized,
        _reached: Annotated[None, read_after("outlet_queue")],
        status: Annotated[str, Query(pattern=_QUEUE_STATUS)] = "ready",
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> OutletQueueResult:
        query = OutletQueueQuery(outlet=outlet, queue_status=status, page=page, page_size=page_size)
        return views.outlet_queue_in(backoffice_of(request), query)

    @app.get(
        "/settlement/cards/{card}",
        response_model=SettlementLookup,
        responses=_VIEW_QUERY,
        tags=["settlement"],
        summary="a card's settlement status from the blocklist view, with the view's position",
    )
    def settlement_card(
        request: Request,
        card: str,
        _identity: Authorized,
        _reached: Annotated[None, read_after("settlement_blocklist")],
    ) -> SettlementLookup:
        return settlement_lookup.settlement_lookup(backoffice_of(request), card)

    @app.get(
        "/audit/unmasked-reads",
        response_model=UnmaskedReadsListing,
        responses=_QUERY,
        tags=["audit"],
        summary="every recorded read of ID numbers and names in full, oldest first, paged",
    )
    def unmasked_reads(
        request: Request,
        _identity: Authorized,
        paging: Page,
        holder_ref: HolderRefQuery = None,
    ) -> UnmaskedReadsListing:
        named = None if holder_ref is None else holder_in_request(request).stream_id
        query = audit.UnmaskedReadsQuery(holder_stream_id=named, paging=paging)
        return audit.unmasked_reads(office_of(request), query)

    @app.get(
        "/audit/chain",
        response_model=ChainVerification,
        responses=responses(),
        tags=["audit"],
        summary="verify every stream's hash chain and the whole log's order",
    )
    def verify_chain(
        request: Request,
        _identity: Authorized,
        anchor_position: Annotated[
            int | None, Query(ge=0, description="with anchor_digest (one alone is refused: 422)")
        ] = None,
        anchor_digest: Annotated[
            str | None,
            Query(pattern=r"^[0-9a-f]{64}$", description="with anchor_position: the digest there"),
        ] = None,
    ) -> ChainVerification:
        anchor = None
        if (anchor_position is None) != (anchor_digest is None):
            raise InvalidInput("anchor_position and anchor_digest: give both or neither")
        if anchor_position is not None:
            anchor = audit.ChainAnchor.model_validate(
                {"position": anchor_position, "digest": anchor_digest}
            )
        return audit.verify_chain(backoffice_of(request), anchor)


def _operating_routes(app: FastAPI) -> None:
    @app.get(
        "/status",
        response_model=StatusResult,
        responses=responses(),
        tags=["operations"],
        summary="workers, store head, followers, consumers' lag, counts of commands",
    )
    def status(request: Request, _identity: Authorized) -> StatusResult:
        return operations.status_in(backoffice_of(request))

    @app.post(
        "/lapses/runs",
        response_model=TickResult,
        responses=responses(),
        tags=["operations"],
        summary="lapse every pre-report due now, once (the scheduler of sscard run does it too)",
    )
    def run_lapses(request: Request, _identity: Authorized) -> TickResult:
        return operations.tick_in(backoffice_of(request))

    @app.get(
        "/dead-letters",
        response_model=DeadLettersResult,
        responses=responses(),
        tags=["operations"],
        summary="messages the consumers parked, per key in the order of retry, paged",
    )
    def dead_letters(
        request: Request,
        _identity: Authorized,
        paging: Page,
        view: Annotated[str | None, Query(pattern=_VIEW_NAME)] = None,
    ) -> DeadLettersResult:
        return views.list_dead_letters_in(backoffice_of(request), view, paging)

    @app.get("/healthz", tags=["operations"], summary="the process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "not ready: the reasons"}},
        tags=["operations"],
        summary="ready to serve: the store answers, Kafka and every consumer within its lag",
    )
    def readyz(request: Request) -> JSONResponse:
        found = readiness(backoffice_of(request))
        return JSONResponse(found.model_dump(mode="json"), status_code=200 if found.ready else 503)
