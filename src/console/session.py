"""The console's session and its forms' CSRF tokens, with no state in the process.

The session cookie carries the identity provider's token itself, verified again on every
request by the API's ``TokenVerifier``: several ``sscard serve`` processes behind a load
balancer each accept it with nothing shared but the key set, the token's own expiry ends the
session (the cookie's Max-Age is the token's remaining life), and signing out needs no record
on the server. A signed session value of our own would add a second secret and a second expiry
to keep in step with the token's for nothing.

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it),
Path=/console (the API never sees it as a credential: the API takes bearer tokens only) and
Secure when the request came over TLS.

Each form carries a CSRF token: an HMAC of the session's token under a key derived from the
settings' holder-id secret (every process of one deployment has the same), checked on every
POST before anything is done. A page of another site can neither read the cookie nor compute
the HMAC without it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import UTC, datetime

from fastapi import Request, Response

from service.settings import Settings

SESSION_COOKIE = "sscard_session"
CSRF_FIELD = "csrf"
COOKIE_PATH = "/console"
# A browser keeps cookies of 4096 bytes at most (name and attributes included).
MAX_COOKIE_TOKEN = 3800
_CSRF_PURPOSE = b"sscard console csrf v1"


class CsrfRefused(Exception):
    """A POST without the form's CSRF token, or with a wrong one: nothing is done (403)."""


def over_tls(request: Request, settings: Settings) -> bool:
    """Whether the person's browser reached us over TLS: the request's own scheme, or the
    proxy's ``X-Forwarded-Proto`` where the settings trust the proxy in front of us."""
    if request.url.scheme == "https":
        return True
    if settings.console_trust_forwarded_proto:
        return request.headers.get("x-forwarded-proto", "").lower() == "https"
    return False


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def start_session(response: Response, token: str, expires_at: datetime, secure: bool) -> None:
    remaining = math.ceil((expires_at - datetime.now(UTC)).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(remaining, 1),
        path=COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def end_session(response: Response, secure: bool) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, secure=secure, httponly=True, samesite="strict"
    )


def csrf_token(settings: Settings, session: str) -> str:
    """The CSRF token of the session's forms."""
    secret = settings.holder_id_key.get_secret_value().encode()
    key = hmac.new(secret, _CSRF_PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, session.encode(), hashlib.sha256).hexdigest()


def check_csrf(settings: Settings, session: str | None, sent: object) -> None:
    """Refuse a form whose CSRF token is missing or is not the session's."""
    if session is None or not isinstance(sent, str) or not sent:
        raise CsrfRefused("the form carries no CSRF token, or there is no session")
    if not hmac.compare_digest(sent, csrf_token(settings, session)):
        raise CsrfRefused("the form's CSRF token is not this session's")
