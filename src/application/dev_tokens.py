"""Development tokens: signed with a key pair of the back office's own, made once in the state
directory, whose public key is written beside it as a JWKS file for the verifier.

Heavy at import (PyJWT, cryptography): entry points import it when a token is signed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from jwt.algorithms import ECAlgorithm
from pydantic import AwareDatetime

from application.results import local_instant
from application.tokens import (
    DEV_ALGORITHM,
    HOLDER_CLAIM,
    JWKS_FILE,
    OUTLET_CLAIM,
    PRIVATE_KEY_FILE,
    ROLE_CLAIM,
    TokenIssued,
    TokenRequest,
)
from domain.identifiers import mask_resident_id

_DIR_MODE = 0o700
_FILE_MODE = 0o600


def issue_development_token(
    request: TokenRequest, key_dir: Path, now: AwareDatetime
) -> TokenIssued:
    """Sign ``request`` with the development key pair in ``key_dir`` (made on first use)."""
    key, key_id = development_key(key_dir)
    principal = request.principal
    expires = now + request.ttl
    token_id = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": request.issuer,
        "aud": request.audience,
        "sub": principal.subject,
        "iat": _seconds(now),
        "nbf": _seconds(now),
        "exp": _seconds(expires),
        "jti": token_id,
        ROLE_CLAIM: principal.role.value,
    }
    if principal.outlet is not None:
        claims[OUTLET_CLAIM] = principal.outlet
    if principal.holder is not None:
        claims[HOLDER_CLAIM] = principal.holder
    token = jwt.encode(claims, key, algorithm=DEV_ALGORITHM, headers={"kid": key_id})
    return TokenIssued(
        token=token,
        token_id=token_id,
        subject=principal.subject,
        role=principal.role,
        outlet=principal.outlet,
        holder_id=None if principal.holder is None else mask_resident_id(principal.holder),
        issuer=request.issuer,
        audience=request.audience,
        key_id=key_id,
        issued_at=local_instant(now),
        expires_at=local_instant(expires),
        jwks=str(key_dir / JWKS_FILE),
    )


def _seconds(at: datetime) -> int:
    return int(at.timestamp())


def development_key(key_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """The development signing key and its key id, made once: the private key 0600 in a 0700
    directory, its public key written beside it as ``jwks.json`` (key id: the RFC 7638
    thumbprint, so that the same key always has the same id)."""
    key_dir.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    if key_dir.stat().st_mode & 0o777 != _DIR_MODE:
        key_dir.chmod(_DIR_MODE)
    path = key_dir / PRIVATE_KEY_FILE
    if not path.exists():
        _create_private_key(path)
    if path.stat().st_mode & 0o777 != _FILE_MODE:
        path.chmod(_FILE_MODE)  # loosened by hand, or copied in
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} holds no EC P-256 key: delete it to make a new one")
    public = public_jwk(key)
    _write_private(key_dir / JWKS_FILE, json.dumps({"keys": [public]}, indent=2) + "\n")
    return key, str(public["kid"])


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """The key's public half as a JWK, with its RFC 7638 thumbprint as ``kid``."""
    jwk: dict[str, str] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    digest = hashlib.sha256(canonical).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return {**members, "kid": kid, "alg": DEV_ALGORITHM, "use": "sig"}


def _create_private_key(path: Path) -> None:
    """Write a new key; another process making one at the same time wins (``link`` refuses an
    existing name) and both then sign with the same key."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    _write_new(temporary, pem)
    try:
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink()


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` whole (a reader never sees half a file), mode 0600."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    _write_new(temporary, text.encode())
    os.replace(temporary, path)


def _write_new(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
