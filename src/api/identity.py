"""Who is asking: a bearer token, verified against the identity provider's public keys, becomes an
``Identity`` (a ``domain.authority.Principal`` with the token's id and expiry).

A token is accepted only when it is signed with an asymmetric algorithm (RS256, ES256, EdDSA)
by a key of the configured key set (a JWKS file or URL) named by its ``kid``, within its
validity (``nbf``..``exp``, with a little leeway for clocks), for our audience, by our issuer,
and carries consistent claims: a role, an outlet for an outlet clerk, the holder's resident ID
number for a cardholder, and neither for any other role. Anything else is refused with a
``TokenRefused`` whose ``code`` says why (HTTP 401). Algorithms come from our list, never from
the token: ``none`` and HMAC are refused before any key is looked at, so that a public key can
never be used as an HMAC secret.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
from pydantic import AwareDatetime, ValidationError

from application.tokens import (
    ALGORITHMS,
    DEV_AUDIENCE,
    DEV_ISSUER,
    HOLDER_CLAIM,
    JWKS_FILE,
    OUTLET_CLAIM,
    ROLE_CLAIM,
    dev_key_dir,
)
from domain.authority import AccessRole, Principal
from domain.errors import ConfigurationError, DomainError, first_problem
from service.settings import Settings

# Clocks of the identity provider and ours may differ by a few seconds.
LEEWAY = timedelta(seconds=30)
# Longer is no token of ours (a few hundred bytes) nor of an identity provider's.
MAX_TOKEN_LENGTH = 8192
_ASYMMETRIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class TokenRefused(Exception):
    """The bearer token is not accepted; nothing was done (HTTP 401)."""

    code = "token_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenMalformed(TokenRefused):
    code = "token_malformed"


class TokenSignatureInvalid(TokenRefused):
    code = "token_signature_invalid"


class TokenAlgorithmRefused(TokenRefused):
    code = "token_algorithm_refused"


class TokenKeyUnknown(TokenRefused):
    code = "token_key_unknown"


class TokenExpired(TokenRefused):
    code = "token_expired"


class TokenNotYetValid(TokenRefused):
    code = "token_not_yet_valid"


class TokenAudienceWrong(TokenRefused):
    code = "token_audience_wrong"


class TokenIssuerWrong(TokenRefused):
    code = "token_issuer_wrong"


class TokenClaimMissing(TokenRefused):
    code = "token_claim_missing"


class TokenClaimInvalid(TokenRefused):
    code = "token_claim_invalid"


class KeysUnavailable(RuntimeError):
    """The key set's URL did not answer: the identity provider's trouble, not the token's
    (HTTP 503)."""


class Identity(Principal):
    """A verified token's holder: who (``subject``), as what (``role``), tied to which outlet or
    own record, by which token (``token_id``, ``issuer``) and until when (``expires_at``)."""

    issuer: str
    token_id: str | None = None
    expires_at: AwareDatetime


class KeySet(Protocol):
    def key(self, key_id: str) -> jwt.PyJWK:
        """The public key named ``key_id``, or ``TokenKeyUnknown``."""
        ...


def _signing_key(data: dict[str, Any], where: str) -> jwt.PyJWK | None:
    """A key set's member as a public signing key of ours; ``None`` for a member we do not use
    (an encryption key, another algorithm). A symmetric or private key is a configuration
    error: the key set is public, and an HMAC secret in it would be everyone's."""
    key_type = data.get("kty")
    if key_type not in _ASYMMETRIC_KEY_TYPES:
        raise ConfigurationError(
            "SSCARD_AUTH_JWKS", f"({where}) holds a key of type {key_type!r}: public keys only"
        )
    if "d" in data:
        raise ConfigurationError(
            "SSCARD_AUTH_JWKS", f"({where}) holds a private key: publish the public half only"
        )
    if data.get("use", "sig") != "sig" or not isinstance(data.get("kid"), str):
        return None
    try:
        key = jwt.PyJWK(data)
    except jwt.PyJWTError:
        return None
    return key if key.algorithm_name in ALGORITHMS else None


class FileKeySet:
    """A JWKS file, read again when it changes (a key added or rotated)."""

    def __init__(self, path: Path, required: bool = True) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._read_at: int | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        if required and not path.is_file():
            raise ConfigurationError(
                "SSCARD_AUTH_JWKS", f"names {path}, which is not a readable file"
            )
        self._refresh()

    def key(self, key_id: str) -> jwt.PyJWK:
        self._refresh()
        found = self._keys.get(key_id)
        if found is None:
            raise TokenKeyUnknown(f"no key {key_id!r} in the key set")
        return found

    def _refresh(self) -> None:
        try:
            changed = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            changed = None
        with self._lock:
            if changed == self._read_at:
                return
            self._keys = {} if changed is None else self._load()
            self._read_at = changed

    def _load(self) -> dict[str, jwt.PyJWK]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigurationError(
                "SSCARD_AUTH_JWKS", f"names {self.path}, which is no JWKS file: {exc}"
            ) from None
        members = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(members, list):
            raise ConfigurationError(
                "SSCARD_AUTH_JWKS", f'names {self.path}, which has no "keys" list'
            )
        keys: dict[str, jwt.PyJWK] = {}
        for member in members:
            if isinstance(member, dict):
                key = _signing_key(member, str(self.path))
                if key is not None and key.key_id is not None:
                    keys[key.key_id] = key
        return keys


class UrlKeySet:
    """The identity provider's JWKS endpoint, cached; an unknown key id fetches it again (a
    rotated key), at most every half minute."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=300, timeout=5)

    def key(self, key_id: str) -> jwt.PyJWK:
        try:
            found = self._client.get_signing_key(key_id)
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailable(f"the key set at {self.url} did not answer: {exc}") from None
        except jwt.PyJWKClientError:
            raise TokenKeyUnknown(f"no key {key_id!r} in the key set") from None
        usable = (
            found.key_type in _ASYMMETRIC_KEY_TYPES
            and found.public_key_use in (None, "sig")
            and found.algorithm_name in ALGORITHMS
        )
        if not usable:
            raise TokenKeyUnknown(f"key {key_id!r} is not a signing key of ours")
        return found


def key_set(source: str, required: bool = True) -> KeySet:
    """The key set a JWKS setting names: an http(s) URL (plain http on loopback only) or a
    file path."""
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ConfigurationError(
                "SSCARD_AUTH_JWKS", "must be an https URL (plain http only on loopback)"
            )
        return UrlKeySet(source)
    if parts.scheme and len(parts.scheme) > 1:  # one letter: a Windows drive
        raise ConfigurationError("SSCARD_AUTH_JWKS", "must be a file path or an https URL")
    return FileKeySet(Path(source), required=required)


@dataclass(frozen=True)
class TokenVerifier:
    """Checks bearer tokens of one issuer, for one audience, against one key set."""

    issuer: str
    audience: str
    keys: KeySet
    leeway: timedelta = LEEWAY

    def verify(self, token: str) -> Identity:
        """The identity ``token`` proves, or the ``TokenRefused`` that says why not."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenMalformed(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenMalformed("the token is not a signed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenAlgorithmRefused(
                f"tokens signed with {algorithm!r} are refused: {', '.join(ALGORITHMS)} only"
            )
        key_id = header.get("kid")
        if not isinstance(key_id, str) or not key_id:
            raise TokenKeyUnknown("the token names no key (kid)")
        key = self.keys.key(key_id)
        claims = _decode(token, key, algorithm, self)
        return identity_of(claims)


def _decode(token: str, key: jwt.PyJWK, algorithm: str, verifier: TokenVerifier) -> dict[str, Any]:
    """The token's claims once its signature, times, audience and issuer are checked."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],  # the key's own algorithm must match it too (PyJWT checks)
            audience=verifier.audience,
            issuer=verifier.issuer,
            leeway=verifier.leeway,
            options={
                "require": ["exp", "iat", "iss", "aud", "sub"],
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.InvalidSignatureError:
        raise TokenSignatureInvalid("the token's signature does not verify") from None
    except jwt.InvalidAlgorithmError as exc:
        raise TokenAlgorithmRefused(f"the token's algorithm is refused: {exc}") from None
    except jwt.ExpiredSignatureError:
        raise TokenExpired("the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenNotYetValid("the token is not valid yet") from None
    except jwt.InvalidAudienceError:
        raise TokenAudienceWrong(
            f"the token is not for this audience ({verifier.audience})"
        ) from None
    except jwt.InvalidIssuerError:
        raise TokenIssuerWrong(f"the token was not issued by {verifier.issuer}") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenClaimMissing(f"the token has no {exc.claim!r} claim") from None
    except jwt.InvalidKeyError as exc:
        raise TokenKeyUnknown(f"the token's key is refused: {exc}") from None
    except jwt.PyJWTError as exc:
        raise TokenMalformed(f"the token is malformed: {exc}") from None
    return claims


def identity_of(claims: dict[str, Any]) -> Identity:
    """The identity in verified claims: its role, and the outlet or holder the role needs."""
    role_name = claims.get(ROLE_CLAIM)
    if role_name is None:
        raise TokenClaimMissing(f"the token has no {ROLE_CLAIM!r} claim")
    try:
        role = AccessRole(role_name)
    except ValueError:
        raise TokenClaimInvalid(f"the token's role {role_name!r} is not a role of ours") from None
    if role is AccessRole.OUTLET_CLERK and OUTLET_CLAIM not in claims:
        raise TokenClaimMissing(f"an outlet clerk's token needs an {OUTLET_CLAIM!r} claim")
    if role is AccessRole.CARDHOLDER and HOLDER_CLAIM not in claims:
        raise TokenClaimMissing(f"a cardholder's token needs a {HOLDER_CLAIM!r} claim")
    token_id = claims.get("jti")
    try:
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    except (OverflowError, ValueError, OSError):
        raise TokenClaimInvalid("the token's expiry is out of any calendar") from None
    try:
        return Identity(
            subject=claims["sub"],
            role=role,
            outlet=claims.get(OUTLET_CLAIM),
            holder=claims.get(HOLDER_CLAIM),
            issuer=claims["iss"],
            token_id=None if token_id is None else str(token_id),
            expires_at=expires_at,
        )
    except ValidationError as exc:
        # The message only, never the input: it may hold a resident ID number.
        where, what = first_problem(exc)
        detail = what.removeprefix("Value error, ")
        said = f"{where}: {detail}" if where else detail
        raise TokenClaimInvalid(f"the token's claims are inconsistent: {said}") from None
    except DomainError as exc:  # an outlet code or resident ID number of the wrong shape
        raise TokenClaimInvalid(f"the token's claims are inconsistent: {exc}") from None


def verifier_from_settings(settings: Settings) -> TokenVerifier:
    """The verifier the settings describe. Where development tokens are allowed, an unset
    issuer, audience or key set means the development key pair's (``sscard token issue``);
    elsewhere each must be set."""
    development = settings.dev_tokens_allowed
    issuer = _setting("SSCARD_AUTH_ISSUER", settings.auth_issuer, DEV_ISSUER, development)
    audience = _setting("SSCARD_AUTH_AUDIENCE", settings.auth_audience, DEV_AUDIENCE, development)
    if settings.auth_jwks:
        return TokenVerifier(issuer, audience, key_set(settings.auth_jwks))
    if not development:
        raise ConfigurationError(
            "SSCARD_AUTH_JWKS", "must be set where development tokens are refused"
        )
    # Made by the first `sscard token issue`: until then, every token's key is unknown.
    keys = FileKeySet(dev_key_dir(settings.state_dir) / JWKS_FILE, required=False)
    return TokenVerifier(issuer, audience, keys)


def _setting(variable: str, value: str | None, development_value: str, development: bool) -> str:
    if value:
        return value
    if development:
        return development_value
    raise ConfigurationError(variable, "must be set where development tokens are refused")
