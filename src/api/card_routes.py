"""The card lifecycle's endpoints: pre-reports, collections and activations at an outlet, the
production centre's batches, a holder's state and history (as of an instant), whose a card is.

Who acts and where come from the token: a clerk at the outlet of their token (the outlet in the
path must be it: ``api.access``), a cardholder online, the production centre under its subject.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query, Request, Response
from pydantic import AwareDatetime

from api.access import Authorized, TheHolder
from api.bodies import (
    ActivationBody,
    CollectionBody,
    HolderLookupBody,
    PreReportBody,
    ProductionBatchBody,
)
from api.idempotency import REPLAYED_HEADER, IdempotencyKey, command_responses, query_responses
from api.identity import Identity
from api.paging import Page
from api.state import backoffice_of, office_of
from application import cards, holders, production_batch
from application.card_results import (
    BatchResult,
    CardOwnerResult,
    EventResult,
    HistoryResult,
    HolderReference,
    HolderResult,
)
from domain.authority import AccessRole, Action, Scope, authorize
from domain.cardholder.commands import ActivateCard, RecordCollection
from domain.errors import InvalidInput
from domain.event import Channel
from domain.identifiers import validate_resident_id
from domain.unmasked_reads import UnmaskedReadReason

AsOf = Annotated[
    AwareDatetime | None,
    Query(description="an instant with its offset: the record as it was then"),
]


def answered(response: Response, result: EventResult) -> EventResult:
    """201 for an event just recorded; 200 for a retry (``Idempotent-Replayed: true``) or a
    fact already on record."""
    if result.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    if result.replayed or result.status != "recorded":
        response.status_code = 200
    return result


def add_card_routes(app: FastAPI) -> None:
    @app.post(
        "/holders/{holder_ref}/pre-reports",
        response_model=EventResult,
        status_code=201,
        responses=command_responses(),
        tags=["cards"],
        summary="pre-report a card lost: at the clerk's outlet, or online by the holder",
    )
    def pre_report(
        request: Request,
        response: Response,
        body: PreReportBody,
        identity: Authorized,
        holder: TheHolder,
        idempotency_key: IdempotencyKey = None,
    ) -> EventResult:
        online = identity.role is AccessRole.CARDHOLDER
        ask = cards.PreReportRequest(
            resident_id=holder.living(),
            channel=Channel.ONLINE if online else Channel.OUTLET,
            outlet=None if online else identity.outlet,
            staff_id=None if online else identity.subject,
            identity_document=body.identity_document,
            request_id=idempotency_key,
        )
        return answered(response, cards.pre_report_loss(office_of(request), ask))

    @app.post(
        "/outlets/{outlet}/collections",
        response_model=EventResult,
        status_code=201,
        responses=command_responses(),
        tags=["cards"],
        summary="record the new card handed over at the outlet",
    )
    def collect(
        request: Request,
        response: Response,
        outlet: str,
        body: CollectionBody,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> EventResult:
        command = RecordCollection(
            request_id=idempotency_key,
            actor=identity.actor(),
            outlet=outlet,
            resident_id=body.holder,
            certificate_number=body.certificate,
            collected_by=body.collected_by,
            agent_resident_id=body.agent_resident_id,
            identity_document=body.identity_document,
        )
        return answered(response, cards.record_collection(office_of(request), command))

    @app.post(
        "/outlets/{outlet}/activations",
        response_model=EventResult,
        status_code=201,
        responses=command_responses(),
        tags=["cards"],
        summary="activate the collected card at the outlet",
    )
    def activate(
        request: Request,
        response: Response,
        outlet: str,
        body: ActivationBody,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> EventResult:
        command = ActivateCard(
            request_id=idempotency_key,
            actor=identity.actor(),
            outlet=outlet,
            resident_id=body.holder,
            card_number=body.card_number,
        )
        return answered(response, cards.activate_card(office_of(request), command))

    @app.post(
        "/production/batches",
        response_model=BatchResult,
        responses=command_responses(),
        tags=["cards"],
        summary="record a batch of produced cards: each row answered on its own",
    )
    def production(
        request: Request, body: ProductionBatchBody, identity: Authorized
    ) -> BatchResult:
        rows = [(line, row.model_dump()) for line, row in enumerate(body.rows, start=1)]
        return production_batch.record_batch(
            office_of(request), rows, identity.actor(), body.batch_id
        )

    @app.get(
        "/holders/{holder_ref}",
        response_model=HolderResult,
        responses=query_responses(),
        tags=["holders"],
        summary="a holder's state now or as of an instant (masked)",
    )
    def holder_state(
        request: Request,
        _identity: Authorized,
        holder: TheHolder,
        as_of: AsOf = None,
    ) -> HolderResult:
        return holders.show_holder(office_of(request), holder.stream_id, as_of=as_of)

    @app.get(
        "/holders/{holder_ref}/history",
        response_model=HistoryResult,
        responses=query_responses(),
        tags=["holders"],
        summary="a holder's events, oldest first, up to an instant if asked (masked), paged",
    )
    def holder_history(
        request: Request,
        _identity: Authorized,
        holder: TheHolder,
        paging: Page,
        as_of: AsOf = None,
    ) -> HistoryResult:
        return holders.holder_history(
            office_of(request), holder.stream_id, as_of=as_of, paging=paging
        )

    @app.get(
        "/holders/{holder_ref}/unmasked",
        response_model=HolderResult,
        responses=query_responses(),
        tags=["holders"],
        summary="an auditor reads a holder's state with ID numbers and names in full (recorded)",
    )
    def holder_state_unmasked(
        request: Request,
        identity: Authorized,
        holder: TheHolder,
        reason: Annotated[UnmaskedReadReason, Query(description="why the data is read in full")],
        reference: Annotated[str | None, Query(description="the case or file number")] = None,
        as_of: AsOf = None,
    ) -> HolderResult:
        read, allowed = _unmasked_read(request, identity, reason, reference)
        return holders.show_holder(
            office_of(request), holder.stream_id, as_of=as_of, read=read, allowed_here=allowed
        )

    @app.get(
        "/holders/{holder_ref}/history/unmasked",
        response_model=HistoryResult,
        responses=query_responses(),
        tags=["holders"],
        summary="an auditor reads a holder's history with ID numbers and names in full (recorded)",
    )
    def holder_history_unmasked(
        request: Request,
        identity: Authorized,
        holder: TheHolder,
        paging: Page,
        reason: Annotated[UnmaskedReadReason, Query(description="why the data is read in full")],
        reference: Annotated[str | None, Query(description="the case or file number")] = None,
        as_of: AsOf = None,
    ) -> HistoryResult:
        read, allowed = _unmasked_read(request, identity, reason, reference)
        return holders.holder_history(
            office_of(request),
            holder.stream_id,
            as_of=as_of,
            read=read,
            allowed_here=allowed,
            paging=paging,
        )

    @app.post(
        "/holders/lookup",
        response_model=HolderReference,
        responses=query_responses(),
        tags=["holders"],
        summary="the reference that names a holder in paths, for their ID number (in the body)",
    )
    def holder_lookup(
        request: Request, body: HolderLookupBody, identity: Authorized
    ) -> HolderReference:
        try:
            resident_id = validate_resident_id(body.holder)
        except InvalidInput as exc:
            raise InvalidInput(f"body.holder: {exc}") from None  # named, never echoed
        # The access dependency could not see the body: a cardholder looks up their own only.
        authorize(identity, Action.LOOKUP_HOLDER, Scope(holder=resident_id))
        return holders.holder_reference(office_of(request), resident_id)

    @app.get(
        "/cards/{card}/owner",
        response_model=CardOwnerResult,
        responses=query_responses(),
        tags=["cards"],
        summary="whose card a number is (current or retired card; masked)",
    )
    def card_owner(request: Request, card: str, _identity: Authorized) -> CardOwnerResult:
        return cards.card_owner(office_of(request), card)


def _unmasked_read(
    request: Request, identity: Identity, reason: UnmaskedReadReason, reference: str | None
) -> tuple[holders.UnmaskedRead, bool]:
    """The auditor's stated read, and whether this deployment allows unmasked reads at all."""
    read = holders.UnmaskedRead(auditor=identity.actor(), reason=reason, reference=reference)
    return read, backoffice_of(request).settings.unmasked_reads_allowed
