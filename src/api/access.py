"""The one access dependency: the bearer token verified into an ``Identity``, then the permission
table asked (``domain.authority.authorize``) for the action of the route the request matched
(``api.endpoints``) and the scope the route names: the outlet in its path, the holder its path or
query names by reference (``api.holder_refs``), the claim in its path (whose holder is read from
the store).

Every recorded act takes its actor and outlet from the identity, never from a request's body: an
outlet clerk acts at the outlet in their token, so the scope of an act without an outlet in its
path is that outlet.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.endpoints import ENDPOINTS
from api.holder_refs import (
    HolderInRequest,
    HolderRefPath,
    holder_in_request,
    remember,
    resolve,
)
from api.identity import Identity, TokenMalformed, TokenRefused, TokenVerifier
from api.state import office_of, verifier_of
from application.claims import claim_holder
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

_bearer = HTTPBearer(auto_error=False, description="a JWT of the identity provider")


class TokenMissing(TokenRefused):
    code = "token_missing"


def verified_identity(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    """The identity the request's bearer token proves, or 401."""
    if credentials is None:
        if request.headers.get("authorization"):
            raise TokenMalformed("the Authorization header is not 'Bearer <token>'")
        raise TokenMissing("this request needs a bearer token (Authorization: Bearer <token>)")
    verifier: TokenVerifier = verifier_of(request)
    identity = verifier.verify(credentials.credentials)
    request.state.identity = identity  # for the access log: role and subject, no holder
    return identity


def route_action(request: Request) -> Action:
    """The action of the route the request matched (a route not in the table: refused)."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    action = ENDPOINTS.get((request.method, str(path)))
    if action is None:
        raise Forbidden("no role may use this route")
    return action


def authorized(
    request: Request, identity: Annotated[Identity, Depends(verified_identity)]
) -> Identity:
    """The identity, once the permission table allows its role this route's action here."""
    action = route_action(request)
    if action not in PERMISSIONS[identity.role]:
        authorize(identity, action)  # refused whatever the scope: said before anything is read
    authorize(identity, action, _scope(request, identity, action))
    return identity


Authorized = Annotated[Identity, Depends(authorized)]


def holder_in_path(
    request: Request, _identity: Authorized, holder_ref: HolderRefPath
) -> HolderInRequest:
    """The holder the path's reference names, as the access check resolved it (after it)."""
    del holder_ref  # declared here for the description; resolved once, by ``authorized``
    return holder_in_request(request)


TheHolder = Annotated[HolderInRequest, Depends(holder_in_path)]


def _scope(request: Request, identity: Identity, action: Action) -> Scope:
    params = request.path_params
    outlet = params.get("outlet")
    if outlet is None and action in ACTS:
        outlet = identity.outlet  # an act is recorded at the outlet of the token
    holder: str | None = None
    ref = params.get("holder_ref") or request.query_params.get("holder_ref")
    if ref is not None:
        named = resolve(office_of(request), ref)
        remember(request, named)
        holder = named.resident_id
        if holder is None and identity.role is AccessRole.CARDHOLDER:
            # An erased holder's record is no holder's own any more: as if unknown.
            raise HolderNotFound(UNKNOWN_HOLDER)
    if holder is None and identity.role is AccessRole.CARDHOLDER and action in _OWN_READS:
        holder = identity.holder  # a cardholder's listing is of their own record
    claim_id = None
    if "claim_id" in params:
        claim_id = _claim_id(params["claim_id"])
        holder = claim_holder(office_of(request), claim_id)
        if holder is None and identity.role is AccessRole.CARDHOLDER:
            # An erased holder's claim: no holder's own any more, answered as no claim at all.
            raise ClaimNotFound(f"no claim {claim_id}")
    return Scope(outlet=outlet, holder=holder, claim_id=claim_id)


# A cardholder's request that names no holder is about their own record. (A lookup names its
# ID number in the body: the route asks the table again with it.)
_OWN_READS = frozenset(
    {Action.READ_CLAIMS, Action.READ_STATE, Action.READ_HISTORY, Action.LOOKUP_HOLDER}
)


def _claim_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise InvalidInput(f"claim_id: {text[:40]!r} is not a claim id (a UUID)") from None
