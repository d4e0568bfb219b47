"""The console as an app of its own mounted on the API's app at ``/console``: its own answers to
refusals (pages, not JSON), its security headers, its static files. It shares the API app's
state (the back office opened by its lifespan, the token verifier), so one process serves both.
"""

from __future__ import annotations

import logging
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request as StarletteRequest
from starlette.types import Scope

from api.identity import KeysUnavailable
from api.refusals import domain_status, infrastructure_errors, validation_message
from console.access import NotSignedIn, signed_in_or_none
from console.headers import SecurityHeaders
from console.render import BASE, page
from console.routes import add_routes
from console.session import CsrfRefused, end_session, over_tls
from domain.errors import DomainError
from service.settings import Settings

log = logging.getLogger("sscard.console")


def mount_console(app: FastAPI, settings: Settings) -> None:
    """Serve the console under ``/console`` of ``app``."""
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.state = app.state  # the back office and verifier the API's lifespan opens

    def tls(scope: Scope) -> bool:
        return over_tls(StarletteRequest(scope), settings)

    console.add_middleware(SecurityHeaders, tls=tls)
    console.mount("/static", StaticFiles(directory=str(files("console") / "static")), "static")
    _install_refusals(console)
    add_routes(console)
    app.mount(BASE, console, name="console")


_REFUSAL_KEYS = {403: "refusal.forbidden", 404: "refusal.not_found", 422: "refusal.invalid"}


def _refusal_page(request: Request, status_code: int, key: str, reason: str, code: str) -> Response:
    return page(
        request,
        "refusal.html",
        identity=signed_in_or_none(request),
        status_code=status_code,
        message_key=key,
        reason=reason,
        code=code,
    )


def _install_refusals(console: FastAPI) -> None:
    async def not_signed_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotSignedIn)
        answer = RedirectResponse(
            f"{BASE}/sign-in" + ("?expired=1" if exc.expired else ""), status_code=303
        )
        if exc.expired:
            end_session(answer, over_tls(request, request.app.state.backoffice.settings))
        return answer

    async def csrf_refused(request: Request, _exc: Exception) -> Response:
        return _refusal_page(request, 403, "refusal.csrf", "", "csrf_refused")

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        http_status, _ = domain_status(exc)
        key = _REFUSAL_KEYS.get(http_status, "refusal.rules")
        return _refusal_page(request, http_status, key, str(exc), exc.code)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError | ValidationError)
        reason = validation_message(list(exc.errors()))
        return _refusal_page(request, 422, "refusal.invalid", reason, "invalid_input")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        key = "refusal.no_page" if exc.status_code in (404, 405) else "refusal.invalid"
        return _refusal_page(request, exc.status_code, key, "", "no_such_page")

    async def unavailable(request: Request, exc: Exception) -> Response:
        log.error("the console could not reach the store or the key set: %s", type(exc).__name__)
        return _refusal_page(request, 503, "refusal.unavailable", "", "unavailable")

    async def unexpected(request: Request, exc: Exception) -> Response:
        request_id = str(request.scope.get("state", {}).get("request_id", ""))
        log.error("unexpected error in the console (request %s)", request_id, exc_info=exc)
        return page(
            request,
            "refusal.html",
            status_code=500,
            message_key="refusal.internal",
            reason="",
            code="internal_error",
            request_id=request_id,
        )

    console.add_exception_handler(NotSignedIn, not_signed_in)
    console.add_exception_handler(CsrfRefused, csrf_refused)
    console.add_exception_handler(DomainError, domain_error)
    console.add_exception_handler(RequestValidationError, invalid)
    console.add_exception_handler(ValidationError, invalid)
    console.add_exception_handler(StarletteHTTPException, http_error)
    console.add_exception_handler(KeysUnavailable, unavailable)
    for infrastructure in infrastructure_errors():
        console.add_exception_handler(infrastructure, unavailable)
    console.add_exception_handler(Exception, unexpected)
