"""Bearer tokens (api.identity, sscard token issue): a good token becomes an identity; every known
attack on a token is refused with its own code; the development token command signs tokens the
verifier accepts with the JWKS it writes, and production refuses it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from api.identity import (
    FileKeySet,
    Identity,
    KeysUnavailable,
    TokenRefused,
    TokenVerifier,
    key_set,
    verifier_from_settings,
)
from application.dev_tokens import development_key, issue_development_token
from application.tokens import JWKS_FILE, PRIVATE_KEY_FILE, TokenRequest, dev_key_dir
from domain.authority import AccessRole, Principal
from domain.errors import ConfigurationError
from service.settings import Settings, load_settings
from tests.support import resident_id

ISSUER = "https://idp.example.gov.cn/realms/sscard"
AUDIENCE = "sscard-api"
OUTLET = "BJ-DC-001"
HOLDER = resident_id()
SSCARD = str(Path(sys.executable).parent / "sscard")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Keys:
    """Three signing keys of the identity provider (one per algorithm we accept) in one JWKS
    file, and one key that is in no key set."""

    ec_key: ec.EllipticCurvePrivateKey
    ec_kid: str
    rsa_key: rsa.RSAPrivateKey
    ed_key: ed25519.Ed25519PrivateKey
    stranger: ec.EllipticCurvePrivateKey
    jwks: Path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("idp")
    ec_key, ec_kid = development_key(directory)  # writes jwks.json with the EC key
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    jwks_path = directory / JWKS_FILE
    document = json.loads(jwks_path.read_text())
    document["keys"] += [
        {**RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True), "kid": "rsa-1", "use": "sig"},
        {**OKPAlgorithm.to_jwk(ed_key.public_key(), as_dict=True), "kid": "ed-1", "use": "sig"},
    ]
    jwks_path.write_text(json.dumps(document))
    stranger = ec.generate_private_key(ec.SECP256R1())
    return Keys(ec_key, ec_kid, rsa_key, ed_key, stranger, jwks_path)


@pytest.fixture
def verifier(keys: Keys) -> TokenVerifier:
    return TokenVerifier(ISSUER, AUDIENCE, FileKeySet(keys.jwks))


def claims(**changes: Any) -> dict[str, Any]:
    """A clerk's claims, valid for an hour; a change of ``None`` drops the claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "clerk-01",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": "token-1",
        "role": "outlet_clerk",
        "outlet": OUTLET,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def signed(keys: Keys, payload: dict[str, Any] | None = None, **header: Any) -> str:
    return jwt.encode(
        claims() if payload is None else payload,
        keys.ec_key,
        algorithm="ES256",
        headers={"kid": keys.ec_kid, **header},
    )


def refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenRefused) as refused:
        verifier.verify(token)
    return refused.value.code


# ---- accepted ---------------------------------------------------------------------------


def test_a_good_token_becomes_the_identity_it_names(keys: Keys, verifier: TokenVerifier) -> None:
    identity = verifier.verify(signed(keys))
    assert isinstance(identity, Identity)
    assert (identity.subject, identity.role, identity.outlet) == (
        "clerk-01",
        AccessRole.OUTLET_CLERK,
        OUTLET,
    )
    assert (identity.issuer, identity.token_id, identity.holder) == (ISSUER, "token-1", None)
    assert identity.expires_at > datetime.now(UTC) + timedelta(minutes=59)


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_every_asymmetric_algorithm_we_accept(
    keys: Keys, verifier: TokenVerifier, algorithm: str
) -> None:
    key: Any = keys.rsa_key if algorithm == "RS256" else keys.ed_key
    kid = "rsa-1" if algorithm == "RS256" else "ed-1"
    token = jwt.encode(claims(), key, algorithm=algorithm, headers={"kid": kid})
    assert verifier.verify(token).role is AccessRole.OUTLET_CLERK


def test_a_cardholder_token_names_their_record_and_no_log_shows_it(
    keys: Keys, verifier: TokenVerifier
) -> None:
    token = signed(keys, claims(sub="holder-web", role="cardholder", outlet=None, holder=HOLDER))
    identity = verifier.verify(token)
    assert (identity.role, identity.holder) == (AccessRole.CARDHOLDER, HOLDER)
    assert HOLDER not in repr(identity)


def test_clocks_a_few_seconds_apart_are_forgiven(keys: Keys, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert verifier.verify(signed(keys, claims(exp=now - 10)))
    assert verifier.verify(signed(keys, claims(nbf=now + 10, iat=now + 10)))


# ---- attacks ----------------------------------------------------------------------------


def test_a_tampered_token_fails_its_signature(keys: Keys, verifier: TokenVerifier) -> None:
    header, _, signature = signed(keys).split(".")
    promoted = b64(json.dumps(claims(role="auditor", outlet=None)).encode())
    assert refusal(verifier, f"{header}.{promoted}.{signature}") == "token_signature_invalid"


def test_a_token_signed_by_another_key_under_a_known_kid(
    keys: Keys, verifier: TokenVerifier
) -> None:
    forged = jwt.encode(claims(), keys.stranger, algorithm="ES256", headers={"kid": keys.ec_kid})
    assert refusal(verifier, forged) == "token_signature_invalid"


def _unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(payload).encode())
    return f"{head}.{body}.{b64(signature)}"


@pytest.mark.parametrize("known_kid", [True, False])
@pytest.mark.parametrize("name", ["none", "None", "NONE", "", "HS256", "RS384", "PS256"])
def test_algorithms_not_ours_are_refused_before_any_key_is_looked_up(
    keys: Keys, verifier: TokenVerifier, name: str, known_kid: bool
) -> None:
    kid = keys.ec_kid if known_kid else "no-such-key"
    token = _unsigned({"alg": name, "typ": "JWT", "kid": kid}, claims(), b"signature")
    assert refusal(verifier, token) == "token_algorithm_refused"


def test_a_token_without_alg_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    assert refusal(verifier, _unsigned({"kid": keys.ec_kid}, claims())) == (
        "token_algorithm_refused"
    )


@pytest.mark.parametrize("public_form", ["pem", "jwk"])
@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_hmac_signed_with_the_public_key_as_secret_is_refused(
    keys: Keys, verifier: TokenVerifier, algorithm: str, public_form: str
) -> None:
    """The classic confusion: the public key is public, so an attacker HMACs with it and hopes
    the verifier uses the key with the token's algorithm."""
    if public_form == "pem":
        secret = keys.rsa_key.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
    else:
        secret = keys.jwks.read_bytes()
    header = {"alg": algorithm, "typ": "JWT", "kid": "rsa-1"}
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims(role="auditor", outlet=None)).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    mac = hmac.new(secret, f"{head}.{body}".encode(), digest[algorithm]).digest()
    assert refusal(verifier, f"{head}.{body}.{b64(mac)}") == "token_algorithm_refused"


def test_an_algorithm_other_than_its_keys_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    # RS256 in the header, the EC key's kid: the key decides the algorithm, not the token.
    token = jwt.encode(claims(), keys.rsa_key, algorithm="RS256", headers={"kid": keys.ec_kid})
    assert refusal(verifier, token) == "token_algorithm_refused"


def test_an_unknown_key_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), keys.stranger, algorithm="ES256", headers={"kid": "stranger"})
    assert refusal(verifier, token) == "token_key_unknown"
    no_kid = jwt.encode(claims(), keys.ec_key, algorithm="ES256")
    assert refusal(verifier, no_kid) == "token_key_unknown"


def test_an_expired_token_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert refusal(verifier, signed(keys, claims(iat=now - 7200, exp=now - 60))) == (
        "token_expired"
    )


def test_a_token_not_valid_yet_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert refusal(verifier, signed(keys, claims(nbf=now + 600))) == "token_not_yet_valid"
    assert refusal(verifier, signed(keys, claims(iat=now + 600))) == "token_not_yet_valid"


def test_a_token_for_another_audience_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    assert refusal(verifier, signed(keys, claims(aud="another-system"))) == "token_audience_wrong"
    assert refusal(verifier, signed(keys, claims(aud=["x", "y"]))) == "token_audience_wrong"


def test_a_token_of_another_issuer_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    assert refusal(verifier, signed(keys, claims(iss="https://evil.example"))) == (
        "token_issuer_wrong"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"role": None},  # no role
        {"outlet": None},  # a clerk without an outlet
        {"role": "cardholder", "outlet": None, "sub": "holder-web"},  # a holder without holder
        {"exp": None},
        {"sub": None},
        {"aud": None},
        {"iss": None},
    ],
    ids=["role", "outlet", "holder", "exp", "sub", "aud", "iss"],
)
def test_a_missing_claim_is_refused(
    keys: Keys, verifier: TokenVerifier, changes: dict[str, Any]
) -> None:
    assert refusal(verifier, signed(keys, claims(**changes))) == "token_claim_missing"


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "superuser"},
        {"role": "auditor"},  # an auditor tied to an outlet
        {"role": "cardholder", "outlet": None, "holder": "110105198005170011"},  # bad check
        {"outlet": "not an outlet"},
        {"sub": "clerk 01 <script>"},  # a staff subject recorded with each act
        {"role": "settlement", "outlet": None, "holder": HOLDER},
        {"role": ["auditor"]},
        {"outlet": 1001},
        {"exp": 10**15},  # valid for PyJWT, beyond any calendar
    ],
    ids=[
        "unknown-role",
        "outlet-on-auditor",
        "bad-id",
        "bad-outlet",
        "bad-staff",
        "holder",
        "role-list",
        "outlet-number",
        "far-expiry",
    ],
)
def test_inconsistent_claims_are_refused(
    keys: Keys, verifier: TokenVerifier, changes: dict[str, Any]
) -> None:
    with pytest.raises(TokenRefused) as refused:
        verifier.verify(signed(keys, claims(**changes)))
    assert refused.value.code == "token_claim_invalid"
    assert "110105198005170011" not in str(refused.value)
    assert HOLDER not in str(refused.value)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 10_000])
def test_malformed_tokens_are_refused(verifier: TokenVerifier, token: str) -> None:
    assert refusal(verifier, token) == "token_malformed"


# ---- key sets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member",
    [
        {"kty": "oct", "k": b64(b"shared-secret"), "kid": "hmac"},
        {"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "d", "kid": "private"},
    ],
    ids=["symmetric", "private"],
)
def test_a_key_set_holding_secrets_is_a_configuration_error(
    tmp_path: Path, member: dict[str, str]
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [member]}))
    with pytest.raises(ConfigurationError, match="SSCARD_AUTH_JWKS"):
        FileKeySet(path)


def test_a_missing_key_set_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a readable file"):
        key_set(str(tmp_path / "absent.json"))
    with pytest.raises(ConfigurationError, match="https"):
        key_set("http://idp.example.gov.cn/jwks")


def test_a_rotated_key_file_is_read_again(keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(keys.jwks.read_text())
    verifier = TokenVerifier(ISSUER, AUDIENCE, FileKeySet(path))
    rotated = jwt.encode(claims(), keys.stranger, algorithm="ES256", headers={"kid": "new"})
    assert refusal(verifier, rotated) == "token_key_unknown"
    stranger = ECAlgorithm.to_jwk(keys.stranger.public_key(), as_dict=True)
    document = json.loads(path.read_text())
    document["keys"].append({**stranger, "kid": "new"})
    path.write_text(json.dumps(document))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert verifier.verify(rotated).subject == "clerk-01"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def served_jwks(keys: Keys) -> Iterator[str]:
    handler = partial(_QuietHandler, directory=str(keys.jwks.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{JWKS_FILE}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_key_set_from_a_url(keys: Keys, served_jwks: str) -> None:
    verifier = TokenVerifier(ISSUER, AUDIENCE, key_set(served_jwks))
    assert verifier.verify(signed(keys)).outlet == OUTLET
    unknown = jwt.encode(claims(), keys.stranger, algorithm="ES256", headers={"kid": "stranger"})
    assert refusal(verifier, unknown) == "token_key_unknown"


def test_an_unreachable_key_set_is_the_providers_trouble_not_the_tokens(keys: Keys) -> None:
    verifier = TokenVerifier(ISSUER, AUDIENCE, key_set("http://127.0.0.1:9/jwks.json"))
    with pytest.raises(KeysUnavailable):
        verifier.verify(signed(keys))


# ---- settings ---------------------------------------------------------------------------


def _production(**changes: Any) -> Settings:
    return Settings(
        env="production",
        holder_id_key="a-real-holder-id-key-0123456789",
        master_key="a-real-master-key-0123456789abcdef0123",
        **changes,
    )


def test_production_needs_the_identity_providers_settings(keys: Keys) -> None:
    with pytest.raises(ConfigurationError, match="SSCARD_AUTH_ISSUER"):
        verifier_from_settings(_production())
    with pytest.raises(ConfigurationError, match="SSCARD_AUTH_JWKS"):
        verifier_from_settings(_production(auth_issuer=ISSUER, auth_audience=AUDIENCE))
    configured = _production(auth_issuer=ISSUER, auth_audience=AUDIENCE, auth_jwks=str(keys.jwks))
    assert verifier_from_settings(configured).verify(signed(keys)).subject == "clerk-01"


def test_production_refuses_development_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _production().dev_tokens_allowed
    assert Settings(env="development").dev_tokens_allowed
    for name, value in {
        "SSCARD_ENV": "production",
        "SSCARD_HOLDER_ID_KEY": "a-real-holder-id-key-0123456789",
        "SSCARD_MASTER_KEY": "a-real-master-key-0123456789abcdef0123",
        "SSCARD_AUTH_DEV_KEYS": "true",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match="SSCARD_AUTH_DEV_KEYS"):
        load_settings()


def test_a_development_token_is_no_production_token(tmp_path: Path) -> None:
    """Signed by the development key pair, refused by a production verifier configured with
    the same key set (the issuer differs) and by one with the provider's keys."""
    request = TokenRequest(principal=Principal(subject="auditor-01", role=AccessRole.AUDITOR))
    issued = issue_development_token(request, tmp_path, datetime.now(UTC))
    production = _production(auth_issuer=ISSUER, auth_audience=AUDIENCE, auth_jwks=issued.jwks)
    with pytest.raises(TokenRefused) as refused:
        verifier_from_settings(production).verify(issued.token)
    assert refused.value.code in {"token_issuer_wrong", "token_audience_wrong"}


# ---- sscard token issue, end to end ------------------------------------------------------


def _sscard(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SSCARD_")}
    environment |= {"SSCARD_STATE_DIR": str(state), "SSCARD_DATA_DIR": str(state / "data")}
    environment |= env
    return subprocess.run(
        [SSCARD, *args], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_sscard_token_issue_signs_what_the_verifier_accepts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = _sscard(
        state,
        "token",
        "issue",
        "--role",
        "outlet_clerk",
        "--outlet",
        OUTLET,
        "--subject",
        "clerk-01",
        "--ttl",
        "30m",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    issued = json.loads(done.stdout)
    assert issued["status"] == "ok"
    assert issued["expires_at"].endswith("+08:00")
    identity = verifier_from_settings(Settings(state_dir=state)).verify(issued["token"])
    assert (identity.role, identity.outlet, identity.subject) == (
        AccessRole.OUTLET_CLERK,
        OUTLET,
        "clerk-01",
    )
    lifetime = identity.expires_at - datetime.now(UTC)
    assert timedelta(minutes=29) < lifetime <= timedelta(minutes=30)
    assert Path(issued["jwks"]) == dev_key_dir(state) / JWKS_FILE
    private_key = dev_key_dir(state) / PRIVATE_KEY_FILE
    assert stat.S_IMODE(private_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(dev_key_dir(state).stat().st_mode) == 0o700

    # The key pair is made once: a second token has the same key id, and the first still holds.
    again = _sscard(state, "token", "issue", "--role", "cardholder", "--holder", HOLDER)
    assert again.returncode == 0, again.stderr
    token = again.stdout.strip()
    assert jwt.get_unverified_header(token)["kid"] == issued["key_id"]
    holder = verifier_from_settings(Settings(state_dir=state)).verify(token)
    assert holder.holder == HOLDER
    assert HOLDER not in again.stderr  # the line for people masks the ID number


@pytest.mark.parametrize("as_json", [False, True])
def test_sscard_token_issue_is_refused_in_production(tmp_path: Path, as_json: bool) -> None:
    state = tmp_path / "state"
    done = _sscard(
        state,
        "token",
        "issue",
        "--role",
        "auditor",
        *(["--json"] if as_json else []),
        SSCARD_ENV="production",
        SSCARD_HOLDER_ID_KEY="a-real-holder-id-key-0123456789",
        SSCARD_MASTER_KEY="a-real-master-key-0123456789abcdef0123",
    )
    assert done.returncode == 2
    output = done.stdout if as_json else done.stderr
    assert len(output.strip().splitlines()) == 1, output
    assert "Traceback" not in done.stderr
    assert "development tokens are refused" in output
    if as_json:
        assert json.loads(done.stdout)["code"] == "configuration_error"
    assert not dev_key_dir(state).exists(), "a refused command wrote a key"


def test_sscard_token_issue_refuses_an_inconsistent_request(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = _sscard(state, "token", "issue", "--role", "outlet_clerk")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "sscard: invalid input: an outlet clerk is tied to an outlet: name it"
    )
    assert not dev_key_dir(state).exists()


def test_the_token_command_loads_no_crypto_until_it_signs() -> None:
    """``sscard --help`` must not load cryptography (a clerk's terminal answers at once): the
    command's module and the models it names are light; signing loads PyJWT when it runs."""
    probe = (
        "import sys, cli.tokens, application.tokens, domain.authority; "
        "print(sorted({n.partition('.')[0] for n in sys.modules} & "
        "{'jwt', 'cryptography', 'kafka', 'sqlalchemy', 'psycopg', 'pyarrow'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
