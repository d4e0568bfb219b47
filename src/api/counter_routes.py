"""The acts a clerk records at the counter of their outlet (the outlet in the path must be the
token's: ``api.access``): a first card, a pre-report's cancellation, a formal loss report, a
proxy authorization, a damaged card's replacement. And the auditor's one write, a holder's
erasure. Who acts comes from the token; the body holds the facts of the act."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response

from api.access import Authorized, TheHolder
from api.bodies import (
    CardIssueBody,
    DamagedCardBody,
    ErasureBody,
    LossReportBody,
    PreReportCancellationBody,
    ProxyAuthorizationBody,
)
from api.card_routes import answered
from api.idempotency import IdempotencyKey, command_responses
from api.state import backoffice_of, office_of
from application import cards, holders
from application.card_results import EventResult
from domain.cardholder.commands import (
    AuthorizeProxy,
    CancelPreReport,
    EraseHolder,
    IssueCard,
    ReplaceDamagedCard,
    ReportLossFormally,
)


def add_counter_routes(app: FastAPI) -> None:
    common: dict[str, Any] = {
        "response_model": EventResult,
        "status_code": 201,
        "responses": command_responses(),
        "tags": ["cards"],
    }

    @app.post("/outlets/{outlet}/cards", summary="issue a first card at the outlet", **common)
    def issue_card(
        request: Request,
        response: Response,
        outlet: str,
        body: CardIssueBody,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> EventResult:
        command = IssueCard(
            request_id=idempotency_key,
            actor=identity.actor(),
            outlet=outlet,
            resident_id=body.holder,
            holder_name=body.holder_name,
            region_code=body.region_code,
            card_number=body.card_number,
            card_kind=body.card_kind,
            issued_on=body.issued_on,
        )
        return answered(response, cards.issue_card(office_of(request), command))

    @app.post(
        "/outlets/{outlet}/pre-report-cancellations",
        summary="cancel a pre-report (card found, or reported in error)",
        **common,
    )
    def cancel_pre_report(
        request: Request,
        response: Response,
        outlet: str,
        body: PreReportCancellationBody,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> EventResult:
        command = CancelPreReport(
            request_id=idempotency_key,
            actor=identity.actor(),
            outlet=outlet,
            resident_id=body.holder,
            reason=body.reason,
        )
        return answered(response, cards.cancel_pre_report(office_of(request), command))

    @app.post(
        "/outlets/{outlet}/loss-reports",
        summary="a formal loss report: the card cancelled, a new one applied for",
        **common,
    )
    def report_loss(
        request: Request,
        response: Response,
        outlet: str,
        body: LossReportBody,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> EventResult:
        command = ReportLossFormally(
            request_id=idempotency_key,
            actor=identity.actor(),
            outlet=outlet,
            resident_id=body.holder,
            applicant=body.applicant,
            agent_resident_id=body.agent_resident_id,
            identity_documents=frozenset(body.identity_documents),
            collection_outlet=body.collection_outlet,
            fee_waiver=body.fee_waiver,
            photo_provided=body.photo_provided,
        )
        return answered(response, cards.report_loss_formally(office_of(request), command))

    @app.post(
        "/outlets/{outlet}/proxy-authorizations",
        summary="record that the holder sends an agent to apply or collect",
        **common,
    )
    def authorize_proxy(
        request: Request,
        response: Response,
        outlet: str,
        body: ProxyAuthorizationBody,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> EventResult:
        command = AuthorizeProxy(
            request_id=idempotency_key,
            actor=identity.actor(),
            outlet=outlet,
            resident_id=body.holder,
            agent_resident_id=body.agent_resident_id,
            agent_name=body.agent_name,
            scope=frozenset(body.scope),
            grounds=body.grounds,
            documents=frozenset(body.documents),
            relationship=body.relationship,
        )
        return answered(response, cards.authorize_proxy(office_of(request), command))

    @app.post(
        "/outlets/{outlet}/damaged-card-replacements",
        summary="replace a damaged card (the old one stays valid until the new is activated)",
        **common,
    )
    def replace_damaged(
        request: Request,
        response: Response,
        outlet: str,
        body: DamagedCardBody,
        identity: Authorized,
        idempotency_key: IdempotencyKey = None,
    ) -> EventResult:
        command = ReplaceDamagedCard(
            request_id=idempotency_key,
            actor=identity.actor(),
            outlet=outlet,
            resident_id=body.holder,
            cause=body.cause,
            applicant=body.applicant,
            agent_resident_id=body.agent_resident_id,
            identity_documents=frozenset(body.identity_documents),
            collection_outlet=body.collection_outlet,
            photo_provided=body.photo_provided,
        )
        return answered(response, cards.replace_damaged_card(office_of(request), command))

    @app.post(
        "/holders/{holder_ref}/erasure",
        summary="erase a holder's personal data (an auditor's act; the key is destroyed)",
        **(common | {"tags": ["holders"]}),
    )
    def erase_holder(
        request: Request,
        response: Response,
        body: ErasureBody,
        identity: Authorized,
        holder: TheHolder,
        idempotency_key: IdempotencyKey = None,
    ) -> EventResult:
        if holder.resident_id is None:  # erased already: their ID number is gone with it
            return answered(
                response, holders.erasure_on_record(office_of(request), holder.stream_id)
            )
        command = EraseHolder(
            request_id=idempotency_key,
            actor=identity.actor(),
            resident_id=holder.resident_id,
            reason=body.reason,
        )
        return answered(response, holders.erase_holder(backoffice_of(request), command))
