"""Bearer tokens: the claims a token carries; a development token's request and result.

A token names who is asking (``sub``), their role (``role``) and what the role is tied to: an
outlet clerk's outlet (``outlet``), a cardholder's resident ID number (``holder``). The HTTP API
verifies tokens of the province's identity provider against its public keys. For development
and tests, ``sscard token issue`` signs tokens with a key pair of its own, made once in the
state directory (the private key 0600), and writes its public key beside it as a JWKS file,
which the verifier reads. Production refuses development tokens (``SSCARD_ENV=production``).

Light at import (pydantic and the domain only): the signing itself is in
``application.dev_tokens``, which loads PyJWT and cryptography, so that ``sscard --help`` loads
neither.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from application.results import Result
from domain.authority import AccessRole, Principal

# The claims every token of ours carries beside the registered ones (iss, aud, sub, exp...).
ROLE_CLAIM = "role"
OUTLET_CLAIM = "outlet"
HOLDER_CLAIM = "holder"

# Asymmetric signatures only: the verifier holds public keys, which can sign nothing. An HMAC
# algorithm would let anyone who has the public key (everyone) sign with it as a secret.
ALGORITHMS = ("RS256", "ES256", "EdDSA")

DEV_ISSUER = "sscard-development"
DEV_AUDIENCE = "sscard"
DEV_ALGORITHM = "ES256"
DEFAULT_DEV_TTL = timedelta(hours=8)
MAX_DEV_TTL = timedelta(hours=24)
PRIVATE_KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"


def dev_key_dir(state_dir: Path) -> Path:
    """Where the development key pair and its JWKS file live."""
    return state_dir / "dev-tokens"


class TokenRequest(BaseModel):
    """A development token to sign: for whom, for how long, for which issuer and audience."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    principal: Principal
    ttl: timedelta = Field(default=DEFAULT_DEV_TTL, gt=timedelta(0), le=MAX_DEV_TTL)
    issuer: str = Field(default=DEV_ISSUER, min_length=1)
    audience: str = Field(default=DEV_AUDIENCE, min_length=1)


class TokenIssued(Result):
    """A signed development token and what it says (``holder_id`` masked)."""

    token: str
    token_id: str
    subject: str
    role: AccessRole
    outlet: str | None
    holder_id: str | None
    issuer: str
    audience: str
    key_id: str
    issued_at: str
    expires_at: str
    jwks: str
