"""A holder's history: every event, oldest first, ID numbers and names masked. A cardholder sees
their own record only (another holder's reads as an unknown one: ``domain.authority``); staff
whose role may read histories look a holder up by ID number. An auditor may read it in full
through the application layer's unmasked read, which records the read, with its stated reason,
before anything is shown; that read is a POST with the form's CSRF token, since it writes.

No ID number in a URL, as in the API: the lookup is a POST form (the ID number in its body, the
CSRF token with it) that redirects to the page addressed by the holder's reference
(``/holders/{holder_ref}/history``, the store's keyed stream id), so access logs, the browser's
history and its address bar hold the reference only. A cardholder's ``/history`` redirects to
their own page, found from their token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.holder_refs import HolderRefPath, holder_in_request
from api.identity import Identity
from api.state import backoffice_of, office_of
from application import holders
from application.card_results import HistoryResult
from console.access import Permitted
from console.render import BASE, page
from domain.authority import PERMISSIONS, AccessRole, Action
from domain.identifiers import validate_resident_id
from domain.unmasked_reads import UnmaskedReadReason

# Fields of an event the table shows in columns of its own (the rest are its details).
_IN_COLUMNS = frozenset({"status"})


def history_url(holder_ref: str) -> str:
    """Where a holder's history is: addressed by their reference, never their ID number."""
    return f"{BASE}/holders/{holder_ref}/history"


def add_history_pages(console: FastAPI) -> None:
    @console.get("/history")
    def history_lookup(request: Request, identity: Permitted) -> Response:
        if identity.role is AccessRole.CARDHOLDER and identity.holder:
            # Their own record, from their token: no form, no ID number in the address.
            found = holders.holder_reference(office_of(request), identity.holder)
            return RedirectResponse(history_url(found.holder_ref), status_code=303)
        return _history_page(request, identity, holder_ref=None, found=None)

    @console.post("/history")
    def history_look_up(
        request: Request,
        identity: Permitted,
        holder: Annotated[str, Form(min_length=1, max_length=32)],
    ) -> Response:
        del identity  # the table allowed this lookup for the ID number in the form
        resident_id = validate_resident_id(holder)  # refused naming the shape, never echoed
        found = holders.holder_reference(office_of(request), resident_id)
        return RedirectResponse(history_url(found.holder_ref), status_code=303)

    @console.get("/holders/{holder_ref}/history")
    def history(request: Request, identity: Permitted, holder_ref: HolderRefPath) -> Response:
        del holder_ref  # resolved and scoped by the access dependency
        stream_id = holder_in_request(request).stream_id
        found = holders.holder_history(office_of(request), stream_id)
        return _history_page(request, identity, holder_ref=str(stream_id), found=found)

    @console.post("/holders/{holder_ref}/history/unmasked")
    def history_unmasked(
        request: Request,
        identity: Permitted,
        holder_ref: HolderRefPath,
        reason: Annotated[UnmaskedReadReason, Form()],
        reference: Annotated[str | None, Form(max_length=64)] = None,
    ) -> Response:
        del holder_ref  # resolved and scoped by the access dependency
        stream_id = holder_in_request(request).stream_id
        read = holders.UnmaskedRead(
            auditor=identity.actor(), reason=reason, reference=(reference or "").strip() or None
        )
        found = holders.holder_history(
            office_of(request),
            stream_id,
            read=read,
            allowed_here=backoffice_of(request).settings.unmasked_reads_allowed,
        )
        return _history_page(request, identity, holder_ref=str(stream_id), found=found)


def _history_page(
    request: Request, identity: Identity, holder_ref: str | None, found: HistoryResult | None
) -> Response:
    may_unmask = Action.READ_UNMASKED in PERMISSIONS[identity.role]
    rows = []
    for entry in found.entries if found else []:
        extra = entry.model_extra or {}
        details = [(name, value) for name, value in extra.items() if name not in _IN_COLUMNS]
        rows.append((entry, details))
    return page(
        request,
        "history.html",
        identity=identity,
        holder_ref=holder_ref,
        found=found,
        rows=rows,
        lookup=identity.role is not AccessRole.CARDHOLDER,
        may_unmask=may_unmask and found is not None and not found.unmasked,
        reasons=list(UnmaskedReadReason),
    )
