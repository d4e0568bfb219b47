"""``sscard token issue``: a development bearer token for the HTTP API, signed with the local key
pair (made once in the state directory; its public keys beside it in ``jwks.json``).

Production refuses it: tokens there come from the identity provider.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from application.tokens import DEV_AUDIENCE, DEV_ISSUER, MAX_DEV_TTL, TokenRequest, dev_key_dir
from domain.authority import AccessRole, Principal, principal_problem
from domain.errors import ConfigurationError, InvalidInput
from service.settings import Settings

_DURATION = re.compile(r"^(\d{1,5})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def add_commands(commands: Any) -> None:
    token = commands.add_parser(
        "token", help="development bearer tokens for the HTTP API (refused in production)"
    )
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    issue = actions.add_parser(
        "issue",
        help="sign a development token with the local key pair and print it "
        "(its public keys: jwks.json in the state directory)",
    )
    issue.add_argument(
        "--role", required=True, choices=[role.value for role in AccessRole], help="the role"
    )
    issue.add_argument("--outlet", help="the clerk's outlet (outlet_clerk only, required there)")
    issue.add_argument(
        "--holder",
        metavar="RESIDENT_ID",
        help="the holder's resident ID number (cardholder only, required there)",
    )
    issue.add_argument(
        "--ttl",
        type=_duration,
        default=timedelta(hours=8),
        help="how long the token lives: 90s, 30m, 8h, 1d (default 8h, at most 24h)",
    )
    issue.add_argument(
        "--subject",
        help="who the token names (staff: the staff id recorded with each act; default dev-<role>)",
    )
    issue.set_defaults(handler=_issue)


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is no duration: 90s, 30m, 8h or 1d")
    length = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if not timedelta(0) < length <= MAX_DEV_TTL:
        raise argparse.ArgumentTypeError(f"{text!r}: a development token lives 1s to 24h")
    return length


def _issue(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.dev_tokens_allowed:
        if settings.auth_dev_keys is False:
            raise ConfigurationError("SSCARD_AUTH_DEV_KEYS", "is false: no development tokens")
        raise ConfigurationError(
            "SSCARD_ENV",
            "is production: development tokens are refused (tokens come from the identity "
            "provider)",
        )
    from application.dev_tokens import issue_development_token

    role = AccessRole(args.role)
    subject = args.subject or f"dev-{role.value.replace('_', '-')}"
    problem = principal_problem(role, args.outlet, args.holder, subject)
    if problem is not None:
        raise InvalidInput(problem)
    principal = Principal(subject=subject, role=role, outlet=args.outlet, holder=args.holder)
    request = TokenRequest(
        principal=principal,
        ttl=args.ttl,
        issuer=settings.auth_issuer or DEV_ISSUER,
        audience=settings.auth_audience or DEV_AUDIENCE,
    )
    issued = issue_development_token(request, dev_key_dir(settings.state_dir), datetime.now(UTC))
    if args.json:
        print(issued.json_line())
        return 0
    print(issued.token)  # alone on stdout: TOKEN=$(sscard token issue ...)
    tied = issued.outlet or issued.holder_id
    print(
        f"development token for {issued.role.value} {issued.subject}"
        + (f" ({tied})" if tied else "")
        + f", valid until {_local(issued.expires_at)} (Beijing time); public keys: {issued.jwks}",
        file=sys.stderr,
    )
    return 0


def _local(instant: str) -> str:
    return datetime.fromisoformat(instant).strftime("%Y-%m-%d %H:%M")
