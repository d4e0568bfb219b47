"""The outlet clerk's queue: cards ready for pickup (with the collection form), cards collected
and not yet activated (with the activation form), production overdue (marked), counts of every
status. The outlet is the clerk's own (their token); roles that may read any outlet's queue
name it with ``?outlet=``. Each action is a POST with the form's CSRF token, answered by a
redirect to the queue with a message (post/redirect/get).

The queue is a read model fed by the consumers: an action recorded now leaves the queue once
the consumer applied it (the redirect shows the view as it is; a reload shows it later)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.state import backoffice_of, office_of
from application import cards, views
from application.catalogue import QUEUE_STATUSES
from application.view_results import OutletQueueQuery
from console.access import Permitted
from console.render import BASE, page
from domain.cardholder.commands import ActivateCard, RecordCollection
from domain.cardholder.events import Applicant, IdentityDocument

# The tabs of the page, in order: what the clerk acts on first.
TABS = ("ready", "collected", "overdue", "awaiting-production", "pre-reported-today")
_QUEUE_STATUS = "^(" + "|".join(QUEUE_STATUSES) + ")$"
_REQUEST_ID = r"^[A-Za-z0-9._:-]{1,64}$"

HolderField = Annotated[str, Form(min_length=1, max_length=32)]
OutletField = Annotated[str, Form(min_length=1, max_length=32)]
RequestIdField = Annotated[str | None, Form(pattern=_REQUEST_ID)]


def add_queue_pages(console: FastAPI) -> None:
    @console.get("/queue")
    def queue(
        request: Request,
        identity: Permitted,
        outlet: Annotated[str | None, Query(max_length=32)] = None,
        status: Annotated[str, Query(pattern=_QUEUE_STATUS)] = "ready",
        page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    ) -> Response:
        query = OutletQueueQuery(
            outlet=outlet or identity.outlet or "",
            queue_status=status,
            page=page_number,
            page_size=50,
        )
        if not query.outlet:
            return page(request, "queue_pick.html", identity=identity)
        found = views.outlet_queue_in(backoffice_of(request), query)
        return page(
            request,
            "queue.html",
            identity=identity,
            queue=found,
            tabs=TABS,
            applicants=list(Applicant),
            documents=list(IdentityDocument),
            form_id=lambda: uuid.uuid4().hex,  # a retried (double-clicked) form records once
        )

    @console.post("/queue/collections")
    def collect(
        request: Request,
        identity: Permitted,
        outlet: OutletField,
        holder: HolderField,
        certificate: Annotated[str, Form(min_length=1, max_length=32)],
        collected_by: Annotated[Applicant, Form()] = Applicant.HOLDER,
        agent_resident_id: Annotated[str | None, Form(max_length=32)] = None,
        identity_document: Annotated[IdentityDocument, Form()] = IdentityDocument.RESIDENT_ID_CARD,
        request_id: RequestIdField = None,
    ) -> Response:
        command = RecordCollection(
            request_id=request_id,
            actor=identity.actor(),
            outlet=outlet,
            resident_id=holder.strip(),
            certificate_number=certificate,
            collected_by=collected_by,
            agent_resident_id=(agent_resident_id or "").strip() or None,
            identity_document=identity_document,
        )
        cards.record_collection(office_of(request), command)
        return _back_to_queue(outlet, identity.outlet, "ready", "done.collected")

    @console.post("/queue/activations")
    def activate(
        request: Request,
        identity: Permitted,
        outlet: OutletField,
        holder: HolderField,
        card_number: Annotated[str, Form(min_length=1, max_length=32)],
        request_id: RequestIdField = None,
    ) -> Response:
        command = ActivateCard(
            request_id=request_id,
            actor=identity.actor(),
            outlet=outlet,
            resident_id=holder.strip(),
            card_number=card_number,
        )
        cards.activate_card(office_of(request), command)
        return _back_to_queue(outlet, identity.outlet, "collected", "done.activated")


def _back_to_queue(outlet: str, own_outlet: str | None, status: str, done: str) -> Response:
    where = "" if outlet == own_outlet else f"&outlet={outlet}"
    return RedirectResponse(f"{BASE}/queue?status={status}&done={done}{where}", status_code=303)
