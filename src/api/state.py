"""What the process keeps while it serves: the back office opened once (lifespan) and the token
verifier. Nothing here is state another process needs: every fact lives in the store."""

from __future__ import annotations

from typing import cast

from fastapi import Request

from api.identity import TokenVerifier
from domain.application import CardOffice
from service.bootstrap import BackOffice


def backoffice_of(request: Request) -> BackOffice:
    return cast(BackOffice, request.app.state.backoffice)


def office_of(request: Request) -> CardOffice:
    return backoffice_of(request).office


def verifier_of(request: Request) -> TokenVerifier:
    return cast(TokenVerifier, request.app.state.verifier)
