"""How a request that was not carried out answers: the output contract's ``Refusal`` (``status``,
``code``, ``message``) with the HTTP status its kind calls for. Nothing was written.

- 401 a token missing or refused (with ``WWW-Authenticate``); 403 ``Forbidden`` (the table);
- 404 ``NotFound`` (an unknown holder, claim or card; another holder's record too);
- 409 the rules refused it (``RuleViolation`` and every other ``DomainError``); a query that
  waited for its view to reach a position (``after``) longer than it was allowed answers 409
  ``view_behind`` with how far the view got (``ViewBehindRefusal``), and ``Retry-After``;
- 413 a body over the limit; 422 bad input (``InvalidInput``, a reused ``Idempotency-Key``, a
  body or parameter that does not validate, naming the field but never echoing the input, which
  may hold an ID number); 503 the store or the identity provider's keys did not answer.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.identity import KeysUnavailable, TokenRefused
from application.results import Refusal, Status
from application.view_positions import ViewBehind
from domain.authority import Forbidden
from domain.errors import DomainError, InvalidInput, NotFound
from service.metrics import count_refusal

log = logging.getLogger("sscard.api")

REFUSAL_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Refusal, "description": "no bearer token, or one that is refused"},
    403: {"model": Refusal, "description": "the role may not do this, or not here"},
    404: {"model": Refusal, "description": "no such holder, claim or card (or not yours)"},
    409: {"model": Refusal, "description": "refused by the rules; nothing was written"},
    413: {"model": Refusal, "description": "the request body is over the limit"},
    422: {"model": Refusal, "description": "bad input: the field is named"},
    503: {"model": Refusal, "description": "the store or the identity provider did not answer"},
    500: {"model": Refusal, "description": "a fault of ours: quote the request id"},
}


def refusal(http_status: int, status: Status, code: str, message: str) -> JSONResponse:
    body = Refusal(status=status, code=code, message=message)
    headers = {}
    if http_status == 401:
        # RFC 6750: a missing token gets the scheme alone, a refused one says it is invalid.
        headers["WWW-Authenticate"] = (
            'Bearer realm="sscard"'
            if code == "token_missing"
            else f'Bearer realm="sscard", error="invalid_token", error_description="{code}"'
        )
    return JSONResponse(body.model_dump(mode="json"), status_code=http_status, headers=headers)


def domain_status(exc: DomainError) -> tuple[int, Status]:
    """The HTTP status of a domain refusal (``Forbidden`` first: it is no rule of the card)."""
    if isinstance(exc, Forbidden):
        return 403, "refused"
    if isinstance(exc, NotFound):
        return 404, "refused"
    if isinstance(exc, InvalidInput):
        return 422, "invalid"
    return 409, "refused"


def validation_message(errors: list[Any]) -> str:
    """The first problem, naming where it is (``body.bill.total_fen``), never the input."""
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    detail = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {detail}" if where else detail


_HTTP_CODES = {404: "no_such_route", 405: "method_not_allowed"}


def install(app: FastAPI) -> None:
    """Register the answers above on ``app``."""

    async def token_refused(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TokenRefused)
        return refusal(401, "refused", exc.code, exc.reason)

    async def keys_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        return refusal(503, "error", "keys_unavailable", str(exc))

    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        http_status, status = domain_status(exc)
        if request.method == "POST" and not isinstance(exc, Forbidden | InvalidInput):
            # A command the rules refused leaves no event: counted for sscard status, as the
            # command line counts its refusals (best effort, off the event loop).
            settings = request.app.state.backoffice.settings
            await run_in_threadpool(count_refusal, settings, exc.code)
        return refusal(http_status, status, exc.code, str(exc))

    async def view_is_behind(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ViewBehind)
        headers = {"Retry-After": "1"}
        return JSONResponse(exc.answer.model_dump(mode="json"), status_code=409, headers=headers)

    async def request_invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError | ValidationError)
        return refusal(422, "invalid", "invalid_input", validation_message(list(exc.errors())))

    async def infrastructure(request: Request, exc: Exception) -> JSONResponse:
        log.error("infrastructure error on %s: %s", request.method, type(exc).__name__)
        return refusal(503, "error", "infrastructure", "the store did not answer; try again")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug of ours: the trace goes to the log, the client gets the contract's shape and
        # the request id to quote (this answer is made outside the request frame: say it here).
        request_id = str(request.scope.get("state", {}).get("request_id", ""))
        log.error("unexpected error (request %s)", request_id, exc_info=exc)
        answer = refusal(
            500, "error", "internal_error", f"unexpected error; request id {request_id}"
        )
        answer.headers["X-Request-Id"] = request_id
        return answer

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        # No such route, or not with this method: the contract's shape too.
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (not UTF-8, say): bad input like any
            # other, so the 422 every route documents, not an undocumented 400.
            return refusal(422, "invalid", "invalid_input", "body: not readable as JSON")
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        answer = refusal(exc.status_code, "refused", code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            answer.headers[name] = value
        return answer

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(TokenRefused, token_refused)
    app.add_exception_handler(KeysUnavailable, keys_unavailable)
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(ViewBehind, view_is_behind)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(ValidationError, request_invalid)
    for kind in infrastructure_errors():
        app.add_exception_handler(kind, infrastructure)


def infrastructure_errors() -> tuple[type[Exception], ...]:
    """The store's and the database clients' errors: the request may succeed later (503)."""
    return (PersistenceError, OperationalError, sqlite3.OperationalError, psycopg.OperationalError)
