"""Signing in and out, and the start page. The pages of each role live in modules of their own
(``console.queue_pages``, ...), added here."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.identity import TokenRefused
from api.state import backoffice_of, verifier_of
from console.access import signed_in_or_none
from console.analytics_pages import add_analytics_pages
from console.claims_pages import add_claims_pages
from console.history_pages import add_history_pages
from console.i18n import Translator, language_of
from console.pages import MENU
from console.production_pages import add_production_pages
from console.queue_pages import add_queue_pages
from console.render import BASE, page
from console.session import (
    COOKIE_PATH,
    MAX_COOKIE_TOKEN,
    check_csrf,
    csrf_token,
    end_session,
    over_tls,
    session_token,
    start_session,
)
from console.verify_pages import add_verify_pages
from domain.authority import PERMISSIONS

# Before a session there is nothing to bind a form to: the sign-in page sets a random value in
# a cookie of its own and its form carries that value's CSRF token (so that no other site can
# sign a person in under the other site's token).
PRE_SESSION_COOKIE = "sscard_pre_session"


def add_routes(console: FastAPI) -> None:
    add_queue_pages(console)
    add_history_pages(console)
    add_claims_pages(console)
    add_verify_pages(console)
    add_production_pages(console)
    add_analytics_pages(console)

    @console.get("/sign-in")
    def sign_in_page(request: Request) -> Response:
        return _sign_in_form(request, error=None, status_code=200)

    @console.post("/sign-in")
    def sign_in(
        request: Request,
        token: Annotated[str, Form(max_length=8192)],
        csrf: Annotated[str, Form(max_length=128)] = "",
    ) -> Response:
        settings = backoffice_of(request).settings
        check_csrf(settings, request.cookies.get(PRE_SESSION_COOKIE), csrf)
        t = Translator(language_of(request))
        token = token.strip()
        if len(token) > MAX_COOKIE_TOKEN:
            return _sign_in_form(request, error=t("sign_in.too_long"), status_code=422)
        try:
            identity = verifier_of(request).verify(token)
        except TokenRefused as exc:
            return _sign_in_form(
                request, error=t("sign_in.refused", reason=exc.reason), status_code=401
            )
        answer = RedirectResponse(f"{BASE}/", status_code=303)
        secure = over_tls(request, settings)
        start_session(answer, token, identity.expires_at, secure)
        answer.delete_cookie(PRE_SESSION_COOKIE, path=COOKIE_PATH, secure=secure, httponly=True)
        return answer

    @console.post("/sign-out")
    def sign_out(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
        settings = backoffice_of(request).settings
        check_csrf(settings, session_token(request), csrf)
        answer = RedirectResponse(f"{BASE}/sign-in?done=signed_out", status_code=303)
        end_session(answer, over_tls(request, settings))
        return answer

    @console.get("/")
    def home(request: Request) -> Response:
        identity = signed_in_or_none(request)
        if identity is None:
            return RedirectResponse(f"{BASE}/sign-in", status_code=303)
        allowed = PERMISSIONS[identity.role]
        links = [(path, key) for path, action, key in MENU if action in allowed]
        return page(request, "home.html", identity=identity, links=links)


def _sign_in_form(request: Request, error: str | None, status_code: int) -> Response:
    settings = backoffice_of(request).settings
    pre_session = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_hex(32)
    answer = page(
        request,
        "sign_in.html",
        status_code=status_code,
        error=error,
        expired=request.query_params.get("expired") == "1",
        sign_in_csrf=csrf_token(settings, pre_session),
    )
    answer.set_cookie(
        PRE_SESSION_COOKIE,
        pre_session,
        path=COOKIE_PATH,
        secure=over_tls(request, settings),
        httponly=True,
        samesite="strict",
    )
    return answer
