"""A holder in the HTTP API's paths and queries: their reference (``holder_ref``), never their
resident ID number, which would land in access logs, proxies and browser histories.

The reference is the holder's stream id in the store: a keyed digest of the ID number
(``domain.identifiers.holder_stream_id``, keyed by ``SSCARD_HOLDER_ID_KEY``, which never lives in
the store), so it reveals nothing without the key; ``POST /holders/lookup`` gives it for an ID
number sent in the body. A cardholder's token still names their ID number (the identity
provider knows people by it, and cannot compute our keyed digest); the token is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Path, Query, Request

from domain.application import CardOffice
from domain.authority import UNKNOWN_HOLDER
from domain.cardholder.errors import HolderDataErased, HolderNotFound
from domain.cardholder.events import CardIssued
from domain.erasure import ERASED

_REF_DESCRIPTION = "the holder's reference (POST /holders/lookup answers it)"

HolderRefPath = Annotated[str, Path(description=_REF_DESCRIPTION)]
HolderRefQuery = Annotated[str | None, Query(description=_REF_DESCRIPTION)]


@dataclass(frozen=True)
class HolderInRequest:
    """The holder a request's reference names: their stream id, and their resident ID number
    while they have one (None once erased)."""

    stream_id: UUID
    resident_id: str | None

    def living(self) -> str:
        """The ID number a command acts on; an erased holder's record takes no command."""
        if self.resident_id is None:
            raise HolderDataErased(
                "the holder's personal data was erased; their record is closed and accepts no "
                "further commands"
            )
        return self.resident_id


def resolve(office: CardOffice, ref: str) -> HolderInRequest:
    """The holder a reference names; anything that names no holder (not a reference, another
    kind of stream, nobody) is answered as an unknown holder is."""
    try:
        stream_id = UUID(ref)
    except ValueError:
        raise HolderNotFound(UNKNOWN_HOLDER) from None
    first = next(iter(office.events.get(stream_id, limit=1)), None)
    if not isinstance(first, CardIssued):  # a holder's stream opens with their card
        raise HolderNotFound(UNKNOWN_HOLDER)
    resident_id = office.holder_by_id(stream_id).resident_id
    return HolderInRequest(stream_id, None if resident_id == ERASED else resident_id)


_RESOLVED = "holder_in_request"


def remember(request: Request, holder: HolderInRequest) -> None:
    """Kept for the route by the access dependency, which resolved it to scope the request."""
    setattr(request.state, _RESOLVED, holder)


def holder_in_request(request: Request) -> HolderInRequest:
    found = getattr(request.state, _RESOLVED, None)
    if not isinstance(found, HolderInRequest):
        raise RuntimeError("the route names no holder reference (or ran before access)")
    return found
