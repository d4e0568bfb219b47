"""A holder's history: every event, oldest first, ID numbers and names masked. A cardholder sees
their own record only (another holder's reads as an unknown one: ``domain.authority``); staff
whose role may read histories look a holder up by ID number. An auditor may read it in full
through the application layer's unmasked read, which records the read, with its stated reason,
before anything is shown; that read is a POST with the form's CSRF token, since it writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import Response

from api.identity import Identity
from api.state import backoffice_of, office_of
from application import holders
from application.card_results import HistoryResult
from console.access import Permitted
from console.render import page
from domain.authority import PERMISSIONS, AccessRole, Action
from domain.unmasked_reads import UnmaskedReadReason

# Fields of an event the table shows in columns of its own (the rest are its details).
_IN_COLUMNS = frozenset({"status"})


def add_history_pages(console: FastAPI) -> None:
    @console.get("/history")
    def history(
        request: Request,
        identity: Permitted,
        holder: Annotated[str | None, Query(max_length=32)] = None,
    ) -> Response:
        if identity.role is AccessRole.CARDHOLDER:
            holder = identity.holder  # their own record: what the table allowed
        if not holder:
            return _history_page(request, identity, holder=None, found=None)
        found = holders.holder_history(office_of(request), holder.strip())
        return _history_page(request, identity, holder=holder.strip(), found=found)

    @console.post("/history/unmasked")
    def history_unmasked(
        request: Request,
        identity: Permitted,
        holder: Annotated[str, Form(min_length=1, max_length=32)],
        reason: Annotated[UnmaskedReadReason, Form()],
        reference: Annotated[str | None, Form(max_length=64)] = None,
    ) -> Response:
        read = holders.UnmaskedRead(
            auditor=identity.actor(), reason=reason, reference=(reference or "").strip() or None
        )
        found = holders.holder_history(
            office_of(request),
            holder.strip(),
            read=read,
            allowed_here=backoffice_of(request).settings.unmasked_reads_allowed,
        )
        return _history_page(request, identity, holder=holder.strip(), found=found)


def _history_page(
    request: Request, identity: Identity, holder: str | None, found: HistoryResult | None
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
        holder=holder,
        found=found,
        rows=rows,
        lookup=identity.role is not AccessRole.CARDHOLDER,
        may_unmask=may_unmask and found is not None and not found.unmasked,
        reasons=list(UnmaskedReadReason),
    )
