"""Pages: the Jinja2 templates of this package (escaped by default), with what every page shows
(the language, the signed-in person, the form's CSRF token, a message after an action)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from api.identity import Identity
from api.state import backoffice_of
from console.i18n import LANGUAGE_COOKIE, LANGUAGES, Translator, filters, language_of
from console.session import COOKIE_PATH, csrf_token, over_tls, session_token

BASE = "/console"
# Messages an action may leave for the page it redirects to (?done=<key>): catalogue keys only.
FLASHES = frozenset(
    {
        "signed_out",
        "done.collected",
        "done.activated",
        "done.approved",
        "done.rejected",
        "done.paid",
    }
)

_templates = Environment(
    loader=PackageLoader("console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters.update(filters())


def page(
    request: Request,
    template: str,
    identity: Identity | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` in the person's language; the language cookie kept when it was
    just chosen in the query."""
    language = language_of(request)
    other = next(each for each in LANGUAGES if each != language)
    session = session_token(request)
    settings = backoffice_of(request).settings
    done = request.query_params.get("done")
    html = _templates.get_template(template).render(
        t=Translator(language),
        language=language,
        other_language=other,
        switch_url=_switch_url(request, other),
        base=BASE,
        path=request.url.path,
        identity=identity,
        csrf=csrf_token(settings, session) if session and identity else "",
        flash=done if done in FLASHES else None,
        sign_in_url=settings.console_sign_in_url,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") == language:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=365 * 24 * 3600,
            path=COOKIE_PATH,
            secure=over_tls(request, settings),
            httponly=True,
            samesite="strict",
        )
    return response


_NOT_KEPT = frozenset({"lang", "done", "holder"})


def _switch_url(request: Request, language: str) -> str:
    """This page in the other language: its query kept, but for an action's message and a
    ``holder`` (no page takes an ID number in its query any more: should one come, it is not
    copied into a link)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in _NOT_KEPT]
    return "?" + urlencode([*kept, ("lang", language)])
