"""Who is signed in, and whether the permission table lets them open this page here.

``Permitted`` is the one dependency of every page in ``console.pages.PAGES``: the session's token
verified again (``api.identity``), the CSRF token of a POST checked before anything else is
read, then ``domain.authority.authorize`` asked for the page's action and the scope the request
names (an outlet in the query or form, a holder's ID number in a form, a holder's reference in
the path, a claim in the path whose holder is read from the store), exactly as the API's
``api.access`` asks it for a route.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from api.holder_refs import remember, resolve
from api.identity import Identity, TokenRefused
from api.state import backoffice_of, office_of, verifier_of
from application.claims import claim_holder
from console.pages import PAGES
from console.session import check_csrf, session_token
from domain.authority import (
    ACTS,
    PERMISSIONS,
    UNKNOWN_HOLDER,
    AccessRole,
    Action,
    Forbidden,
    Scope,
    authorize,
)
from domain.cardholder.errors import HolderNotFound
from domain.claims.errors import ClaimNotFound
from domain.errors import InvalidInput


class NotSignedIn(Exception):
    """No session, or one whose token is no longer accepted: the sign-in page answers."""

    def __init__(self, expired: bool) -> None:
        super().__init__("not signed in")
        self.expired = expired


def signed_in(request: Request) -> Identity:
    """The identity of the session's token, verified now (its expiry honoured)."""
    token = session_token(request)
    if token is None:
        raise NotSignedIn(expired=False)
    try:
        identity = verifier_of(request).verify(token)
    except TokenRefused:
        raise NotSignedIn(expired=True) from None
    request.state.identity = identity  # for the access log: role and subject, no holder
    return identity


def signed_in_or_none(request: Request) -> Identity | None:
    try:
        return signed_in(request)
    except NotSignedIn:
        return None


SignedIn = Annotated[Identity, Depends(signed_in)]


async def permitted(request: Request, identity: SignedIn) -> Identity:
    """The identity, once the form's CSRF token and the permission table allow this page."""
    fields: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        check_csrf(backoffice_of(request).settings, session_token(request), form.get("csrf"))
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
    action = page_action(request)
    if action not in PERMISSIONS[identity.role]:
        authorize(identity, action)  # refused whatever the scope: said before anything is read
    authorize(identity, action, _scope(request, identity, action, fields))
    return identity


Permitted = Annotated[Identity, Depends(permitted)]


def page_action(request: Request) -> Action:
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    action = PAGES.get((request.method, str(path)))
    if action is None:
        raise Forbidden("no role may open this page")
    return action


def _scope(request: Request, identity: Identity, action: Action, fields: dict[str, str]) -> Scope:
    asked = {**request.query_params, **fields}
    outlet = asked.get("outlet") or None
    if outlet is None and (action in ACTS or identity.role is AccessRole.OUTLET_CLERK):
        outlet = identity.outlet  # a clerk reads, and acts at, the outlet of their token
    # An ID number, in a form only (never in a URL); as the validator will read it.
    holder = fields.get("holder", "").strip().upper() or None
    if "holder_ref" in request.path_params:
        named = resolve(office_of(request), request.path_params["holder_ref"])
        remember(request, named)  # for the page: resolved once, here
        holder = named.resident_id
        if holder is None and identity.role is AccessRole.CARDHOLDER:
            # An erased holder's record is no holder's own any more: as if unknown.
            raise HolderNotFound(UNKNOWN_HOLDER)
    elif holder is None and identity.role is AccessRole.CARDHOLDER:
        holder = identity.holder  # a cardholder's pages are of their own record
    claim_id = None
    if "claim_id" in request.path_params:
        claim_id = _claim_id(request.path_params["claim_id"])
        holder = claim_holder(office_of(request), claim_id)
        if holder is None and identity.role is AccessRole.CARDHOLDER:
            raise ClaimNotFound(f"no claim {claim_id}")
    return Scope(outlet=outlet, holder=holder, claim_id=claim_id)


def _claim_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise InvalidInput(f"claim_id: {text[:40]!r} is not a claim id (a UUID)") from None
