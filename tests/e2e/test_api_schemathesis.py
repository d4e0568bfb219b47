"""The HTTP API against its own OpenAPI document (schemathesis): requests generated from
``/openapi.json`` for every operation, sent with a development token of each role and with none,
over a real SQLite store holding a few holders, cards, a formal loss report and a claim.

Every answer must be no server error, carry a documented status code and content type, and match
the schema documented for that status. Without a token every operation that needs one answers
401. Valid requests (positive mode) reach the seeded holders (by reference in paths and queries,
as ``POST /holders/lookup`` answered it; by ID number in bodies), claims, cards and certificates
half of the time, so they walk real paths rather than only 404s; invalid ones (negative mode) try
the validation and the error answers. Verify is asked not to wait for consumers (none runs here).

Bounded and reproducible: derandomized, a fixed number of examples per operation and role, no
deadline (about 20 s of CPU in all). ``SSCARD_API_FUZZ_EXAMPLES=N`` (``make test-api-fuzz``) runs N
valid examples per operation and role instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.endpoints import ENDPOINTS
from domain.authority import PERMISSIONS, AccessRole
from samples import stories
from service.settings import Settings
from tests.api_support import OUTLET, bearer, claim_body, token
from tests.conftest import make_settings
from tests.support import card_number, resident_id

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# /readyz answers 503 with its reasons while Kafka is out of reach, as documented: that is its
# answer here (the app's Kafka port is one nothing listens on), not a server error.
NOT_READY_CHECKS = [check for check in CHECKS if check is not not_a_server_error]

# Valid examples per operation for a role the table allows; the refused and the anonymous get
# fewer (their answer is decided before anything is read). Invalid examples: half as many.
ALLOWED_EXAMPLES = int(os.environ.get("SSCARD_API_FUZZ_EXAMPLES", "12"))
REFUSED_EXAMPLES = max(3, ALLOWED_EXAMPLES // 4)

# The statuses valid requests got, per operation (for the last test: real paths were walked).
ANSWERED: dict[tuple[str, str], set[int]] = {}

# The operations that need no token, tried anonymously only.
PUBLIC_OPERATIONS = [("GET", "/healthz"), ("GET", "/readyz")]


@dataclass
class Seeded:
    """What the store holds before the run: the values generated requests may point at. A
    holder is named by ID number in a body and by reference (``holder_ref``) in a path or query."""

    holders: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)  # the holders' references, in their order
    cards: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)
    erasable: list[str] = field(default_factory=list)  # the erasure route's own holders' refs


@dataclass
class Fuzzed:
    schema: Any  # schemathesis's OpenApiSchema
    client: asgi.ASGIClient
    tokens: dict[AccessRole, str]
    seeded: Seeded


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    tmp: Path = tmp_path_factory.mktemp("api-schemathesis")
    # Kafka on a port bound here and never listened on: refused at once, whatever brokers the
    # machine runs, so that /readyz gives the same answer in every run.
    nowhere = socket.socket()
    nowhere.bind(("127.0.0.1", 0))
    settings = make_settings(tmp, kafka_port=nowhere.getsockname()[1])
    app = create_app(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app's lifespan
    try:
        with asgi.get_client(app) as client:
            seeded = _seed(app, client, settings)
            tokens = {
                role: token(
                    settings,
                    role,
                    holder=seeded.holders[0] if role is AccessRole.CARDHOLDER else None,
                    ttl=timedelta(hours=24),  # outlives a long run (make test-api-fuzz)
                )
                for role in AccessRole
            }
            yield Fuzzed(schema, client, tokens, seeded)
    finally:
        asgi.shutdown_lifespans()  # closes the back office
        nowhere.close()


def _seed(app: Any, client: asgi.ASGIClient, settings: Settings) -> Seeded:
    """Five holders with a card each: three pre-reported lost (the first with a claim filed,
    the third then reported lost formally: a certificate to collect with), one active, and one
    for the erasure route alone (erasing the others would change what later routes find)."""
    office = app.state.backoffice.office
    seeded = Seeded()
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    for index in range(5):
        rid, card = resident_id(), card_number()
        office.issue_card(stories.issue(rid, card, region="110000"))
        looked_up = client.post("/holders/lookup", json={"holder": rid}, headers=clerk)
        assert looked_up.status_code == 200, looked_up.text
        ref = looked_up.json()["holder_ref"]
        if index == 4:
            seeded.erasable.append(ref)
        else:
            seeded.holders.append(rid)
            seeded.refs.append(ref)
        seeded.cards.append(card)
        if index < 3:
            office.pre_report_loss(stories.pre_report(rid, outlet=OUTLET))
    filed = client.post(
        f"/holders/{seeded.refs[0]}/claims", json=claim_body("INV-FUZZ-1"), headers=clerk
    )
    assert filed.status_code == 201, filed.text
    seeded.claims.append(filed.json()["claim_id"])
    reported = client.post(
        f"/outlets/{OUTLET}/loss-reports",
        json={
            "holder": seeded.holders[2],
            "identity_documents": ["holder_id_original", "holder_id_copy"],
            "collection_outlet": OUTLET,
        },
        headers=clerk,
    )
    assert reported.status_code == 201, reported.text
    seeded.certificates.append(reported.json()["certificate"])
    return seeded


# Which seeded values stand in for a generated one, by parameter or body field name.
def _known(seeded: Seeded, path: str) -> dict[str, list[str]]:
    return {
        "holder": seeded.holders,  # an ID number, in a body only
        "holder_ref": seeded.erasable if path.endswith("/erasure") else seeded.refs,
        "claim_id": seeded.claims,
        "card": seeded.cards,
        "card_number": seeded.cards,
        "outlet": [OUTLET],
        "collection_outlet": [OUTLET],
        "certificate": seeded.certificates,
    }


def _with_known_values(case: Any, known: dict[str, list[str]], pick: int) -> Any:
    """The case with every path or query parameter and top-level body field that names a
    holder, claim, card, outlet or certificate set to a seeded one (``pick`` chooses which)."""
    for parameters in (case.path_parameters, case.query):
        for name in list(parameters or {}):
            if name in known:
                values = known[name]
                parameters[name] = values[pick % len(values)]
    if isinstance(case.body, dict):
        for name in list(case.body):
            if name in known:
                values = known[name]
                case.body[name] = values[pick % len(values)]
    return case


def _valid_bodies(seeded: Seeded) -> dict[tuple[str, str], dict[str, Any]]:
    """Bodies the rules may accept, where a body generated from the schema alone never passes
    the validators (a bill's sums, a region's documents, a resident ID number's check digit)."""
    return {
        ("POST", "/holders/{holder_ref}/claims"): claim_body("INV-FUZZ-2"),
        ("POST", "/outlets/{outlet}/cards"): {
            "holder": resident_id(),
            "holder_name": "张三",
            "region_code": "110000",
            "card_number": card_number(),
        },
        ("POST", "/outlets/{outlet}/proxy-authorizations"): {
            "holder": seeded.holders[1],
            "agent_resident_id": resident_id(),
            "agent_name": "李四",
            "scope": ["apply"],
            "documents": [
                "holder_id_original",
                "holder_id_copy",
                "agent_id_original",
                "agent_id_copy",
                "power_of_attorney",
            ],
        },
        ("POST", "/outlets/{outlet}/collections"): {
            "holder": seeded.holders[2],
            "certificate": seeded.certificates[0],
        },
        ("POST", "/production/batches"): {
            "rows": [
                {
                    "certificate": seeded.certificates[0],
                    "new_card_number": card_number(),
                    "produced_at": "2026-12-01T09:00:00+08:00",
                }
            ]
        },
    }


def _in_range(value: Any, low: float, high: float) -> bool:
    try:
        return low <= float(value) <= high
    except (TypeError, ValueError):
        return False


def _bounded(case: Any) -> Any:
    """The case made cheap where a valid value would only cost time. Verify waits for the relay
    and the consumers (none runs here) up to its ``wait``, 10 s when absent: every verify is
    asked ``wait=0`` explicitly (an invalid ``wait`` is kept, for the invalid runs). A replay on
    more than one process would only add the processes' start: asked on one."""
    if case.path == "/views/verification":
        query = dict(case.query or {})
        if "wait" not in query or _in_range(query["wait"], 0, 60):
            query["wait"] = 0
        case.query = query
    body = case.body
    if (
        case.path == "/views/replays"
        and isinstance(body, dict)
        and _in_range(body.get("workers"), 2, 64)
    ):
        body["workers"] = 1
    return case


def _cases(operation: Any, mode: GenerationMode, known: dict[str, list[str]]) -> Any:
    generated = operation.as_strategy(generation_mode=mode).map(_bounded)
    if mode is not GenerationMode.POSITIVE:
        return generated  # an invalid case stays as generated: a seeded value might repair it
    return st.one_of(
        generated,
        st.tuples(generated, st.integers(0, 7)).map(
            lambda pair: _with_known_values(pair[0], known, pair[1])
        ),
    )


def _run(
    fuzzed: Fuzzed,
    method: str,
    path: str,
    role: AccessRole | None,
    examples: int,
    expect_status: int | None = None,
    checks: list[Any] = CHECKS,
) -> None:
    """Valid requests, then invalid ones (half as many), each answer checked."""
    operation = fuzzed.schema[path][method]
    if not operation.path_parameters and not operation.query and not list(operation.body):
        examples = min(examples, 3)  # only headers to vary (and /status takes its time)
    headers = bearer(fuzzed.tokens[role]) if role is not None else {}
    known = _known(fuzzed.seeded, path)
    statuses = ANSWERED.setdefault((method, path), set())
    body = _valid_bodies(fuzzed.seeded).get((method, path))
    if body is not None:
        # The explicit example first: a body the validators accept, at seeded path values.
        explicit = operation.Case(
            path_parameters={p.name: known[p.name][0] for p in operation.path_parameters},
            body=body,
            media_type="application/json",
        )
        answer = explicit.call_and_validate(session=fuzzed.client, headers=headers, checks=checks)
        statuses.add(answer.status_code)
        if expect_status is not None:
            assert answer.status_code == expect_status, answer.text
    positive = _cases(operation, GenerationMode.POSITIVE, known)
    _fuzz(
        fuzzed,
        positive,
        examples,
        headers,
        expect_status,
        ANSWERED.setdefault((method, path), set()),
        checks,
    )
    negative = _cases(operation, GenerationMode.NEGATIVE, {})
    # Nothing to make invalid (no parameter, no body) is Unsatisfiable: the valid run covered it.
    with suppress(Unsatisfiable):
        _fuzz(fuzzed, negative, max(2, examples // 2), headers, None, set(), checks)


def _fuzz(
    fuzzed: Fuzzed,
    cases: Any,
    examples: int,
    headers: dict[str, str],
    expect_status: int | None,
    statuses: set[int],
    checks: list[Any],
) -> None:
    @hypothesis_settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    @given(case=cases)
    def check(case: Any) -> None:
        response = case.call_and_validate(session=fuzzed.client, headers=headers, checks=checks)
        statuses.add(response.status_code)
        if expect_status is not None:
            assert response.status_code == expect_status, (case.path, response.text)

    check()


ROUTES = sorted(ENDPOINTS)
ROLES: list[AccessRole | None] = [*AccessRole, None]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "no-token")
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_operation_answers_as_documented(
    fuzzed: Fuzzed, method: str, path: str, role: AccessRole | None
) -> None:
    """No 5xx; every status, content type, header and body as the OpenAPI document says. A
    request without a token is 401 (documented); a role the table refuses is 403."""
    if role is None:
        _run(fuzzed, method, path, None, REFUSED_EXAMPLES, expect_status=401)
    elif ENDPOINTS[(method, path)] in PERMISSIONS[role]:
        _run(fuzzed, method, path, role, ALLOWED_EXAMPLES)
    else:
        _run(fuzzed, method, path, role, REFUSED_EXAMPLES, expect_status=403)


@pytest.mark.parametrize(("method", "path"), PUBLIC_OPERATIONS)
def test_the_public_operations_answer_as_documented(fuzzed: Fuzzed, method: str, path: str) -> None:
    if path == "/readyz":
        _run(fuzzed, method, path, None, ALLOWED_EXAMPLES, 503, NOT_READY_CHECKS)
    else:
        _run(fuzzed, method, path, None, ALLOWED_EXAMPLES)


def test_every_operation_of_the_document_is_tried(fuzzed: Fuzzed) -> None:
    """A route added to the app is fuzzed too: the document holds exactly the routes above."""
    documented = {
        (operation.method.upper(), operation.path)
        for result in fuzzed.schema.get_all_operations()
        for operation in [result.ok()]
    }
    assert documented == set(ROUTES) | set(PUBLIC_OPERATIONS)


def test_valid_requests_reached_the_rules(fuzzed: Fuzzed) -> None:
    """Not only 404s and 422s: every operation answered some valid request from the store, or
    refused it by a rule (409). Runs last: it reads what the runs above were answered. The
    settlement lookup reads the blocklist view, which the Kafka consumers fill; none runs here,
    so every card is unknown to it (404)."""
    for method, path in ROUTES:
        if (method, path) not in ANSWERED:  # run alone (-k): try the first role allowed
            role = next(r for r in AccessRole if ENDPOINTS[(method, path)] in PERMISSIONS[r])
            _run(fuzzed, method, path, role, ALLOWED_EXAMPLES)
    answered = {route: ANSWERED[route] for route in ROUTES}
    unreached = {
        route: sorted(codes)
        for route, codes in answered.items()
        if codes <= {401, 403, 404, 422} and route != ("GET", "/settlement/cards/{card}")
    }
    assert not unreached
    assert 404 in answered[("GET", "/settlement/cards/{card}")]


def test_a_chain_anchor_is_both_parts_or_none(fuzzed: Fuzzed) -> None:
    """Found by the run above: a digest without its position was refused naming ``position``,
    a field the request has not; the refusal names the two parameters."""
    auditor = bearer(fuzzed.tokens[AccessRole.AUDITOR])
    alone = fuzzed.client.get("/audit/chain", params={"anchor_digest": "0" * 64}, headers=auditor)
    assert alone.status_code == 422, alone.text
    assert alone.json()["message"].startswith("anchor_position and anchor_digest"), alone.text
    whole = fuzzed.client.get("/audit/chain", headers=auditor)
    assert whole.status_code == 200, whole.text


def test_a_view_named_twice_is_rebuilt_once(fuzzed: Fuzzed) -> None:
    """Found by the run above: a replay naming a view twice rebuilt it twice in one pass, and
    the second swap found the view's position moved (500)."""
    admin = bearer(fuzzed.tokens[AccessRole.ADMIN])
    body = {"views": ["claims", "claims"], "workers": 1}
    answer = fuzzed.client.post("/views/replays", json=body, headers=admin)
    assert answer.status_code == 200, answer.text
    assert [v["view"] for v in answer.json()["views"]] == ["claims"]
