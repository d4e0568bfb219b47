"""The permission table tried on every endpoint of the HTTP API, with development tokens of each
role, over a real SQLite store: 401 without a token (with ``WWW-Authenticate``), 403 where the
table refuses the role, never 401 or 403 where it allows (the request may still be refused by the
rules: that is another answer). An outlet clerk is refused another outlet; a cardholder asking
about another holder gets exactly the answer an unknown holder (or claim) gets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.endpoints import ENDPOINTS, PUBLIC_PATHS
from domain.authority import PERMISSIONS, AccessRole, Action
from service.settings import Settings
from tests.api_support import (
    OTHER_OUTLET,
    OUTLET,
    api_client,
    bearer,
    blocked_holder,
    claim_body,
    holder_ref,
    token,
)
from tests.conftest import make_settings
from tests.support import card_number, resident_id


@dataclass
class World:
    settings: Settings
    client: TestClient
    holder: str  # a holder with a blocked card and a claim
    claim_id: str
    card: str
    erasable: str = ""  # a holder of its own for the erasure route (the others keep theirs)

    def request(self, method: str, path: str, headers: dict[str, str]) -> Any:
        holder = self.erasable if path.endswith("/erasure") and self.erasable else self.holder
        concrete = (
            path.replace("{holder_ref}", holder_ref(self.client, holder))
            .replace("{claim_id}", self.claim_id)
            .replace("{outlet}", OUTLET)
            .replace("{card}", self.card)
            .replace("{table}", "outlet-months")
        )
        body = _bodies(self).get((method, path))
        query = _QUERIES.get(path, {"reason": "audit"} if path.endswith("/unmasked") else None)
        return self.client.request(method, concrete, json=body, params=query, headers=headers)


# What a route needs in its query to be answered at once here (no relay, no consumers run).
_QUERIES: dict[str, dict[str, Any]] = {"/views/verification": {"view": "outlet_queue", "wait": 0}}


def _bodies(world: World) -> dict[tuple[str, str], Any]:
    return {
        ("POST", "/holders/lookup"): {"holder": world.holder},
        ("POST", "/holders/{holder_ref}/claims"): claim_body(f"INV-{uuid.uuid4().hex[:8]}"),
        ("POST", "/claims/{claim_id}/approval"): None,
        ("POST", "/claims/{claim_id}/rejection"): {
            "reason": "not_eligible",
            "explanation": "the bill predates the loss",
        },
        ("POST", "/claims/{claim_id}/payment"): {"payment_reference": "PAY-1"},
        ("POST", "/claims/{claim_id}/withdrawal"): {"explanation": "paid by the employer"},
        ("POST", "/holders/{holder_ref}/pre-reports"): {},
        ("POST", "/outlets/{outlet}/collections"): {
            "holder": world.holder,
            "certificate": "BJ20261207000001",
        },
        ("POST", "/outlets/{outlet}/activations"): {
            "holder": world.holder,
            "card_number": world.card,
        },
        ("POST", "/outlets/{outlet}/cards"): {
            "holder": resident_id(),
            "holder_name": "张三",
            "region_code": "110000",
            "card_number": card_number(),
        },
        ("POST", "/outlets/{outlet}/pre-report-cancellations"): {"holder": world.holder},
        ("POST", "/outlets/{outlet}/loss-reports"): {
            "holder": world.holder,
            "identity_documents": ["holder_id_original"],
            "collection_outlet": OUTLET,
        },
        ("POST", "/outlets/{outlet}/proxy-authorizations"): {
            "holder": world.holder,
            "agent_resident_id": resident_id(),
            "agent_name": "李四",
            "scope": ["apply"],
            "documents": ["holder_id_original", "agent_id_original"],
        },
        ("POST", "/outlets/{outlet}/damaged-card-replacements"): {
            "holder": world.holder,
            "cause": "wear_or_accident",
            "identity_documents": ["holder_id_original"],
            "collection_outlet": OUTLET,
        },
        ("POST", "/holders/{holder_ref}/erasure"): {"reason": "holder_request"},
        ("POST", "/views/replays"): {"views": ["outlet_queue"]},
        ("POST", "/production/batches"): {
            "rows": [
                {
                    "certificate": "BJ20261207000001",
                    "new_card_number": card_number(),
                    "produced_at": "2026-12-01T09:00:00+08:00",
                }
            ]
        },
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("api-roles")
    settings = make_settings(tmp)
    with api_client(settings) as client:
        holder, card = blocked_holder(client)
        filed = client.post(
            f"/holders/{holder_ref(client, holder)}/claims",
            json=claim_body("INV-ROLES-1"),
            headers=bearer(token(settings, AccessRole.OUTLET_CLERK)),
        )
        assert filed.status_code == 201, filed.text
        erasable, _ = blocked_holder(client)
        yield World(settings, client, holder, filed.json()["claim_id"], card, erasable)


def _token(world: World, role: AccessRole) -> str:
    holder = world.holder if role is AccessRole.CARDHOLDER else None
    return token(world.settings, role, holder=holder)


ROUTES = sorted(ENDPOINTS)


def test_every_route_is_in_the_endpoint_table(world: World) -> None:
    """A route the table does not name would be refused to everyone: none may be forgotten."""
    declared = {
        (method, route.path)
        for route in world.client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and route.path not in PUBLIC_PATHS
        for method in route.methods
    }
    assert declared == set(ENDPOINTS)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_token_is_401_with_the_scheme(world: World, method: str, path: str) -> None:
    answer = world.request(method, path, {})
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["code"] == "token_missing"


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_refused_token_is_401(world: World, method: str, path: str) -> None:
    expired = token(world.settings, AccessRole.ADMIN, ttl=timedelta(seconds=1))
    signed_by_nobody = expired[:-8] + ("A" * 8 if not expired.endswith("A" * 8) else "B" * 8)
    answer = world.request(method, path, bearer(signed_by_nobody))
    assert answer.status_code == 401, answer.text
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


@pytest.mark.parametrize("role", list(AccessRole))
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_the_table_decides_every_role_on_every_route(
    world: World, method: str, path: str, role: AccessRole
) -> None:
    action: Action = ENDPOINTS[(method, path)]
    allowed = action in PERMISSIONS[role]
    answer = world.request(method, path, bearer(_token(world, role)))
    assert answer.status_code < 500, answer.text
    if allowed:
        assert answer.status_code not in (401, 403), (role, path, answer.text)
    else:
        assert answer.status_code == 403, (role, path, answer.text)
        assert answer.json()["code"] == "forbidden"


OUTLET_ROUTES = [r for r in ROUTES if "{outlet}" in r[1]]


@pytest.mark.parametrize(("method", "path"), OUTLET_ROUTES)
def test_a_clerk_is_refused_another_outlet(world: World, method: str, path: str) -> None:
    other = token(world.settings, AccessRole.OUTLET_CLERK, outlet=OTHER_OUTLET)
    answer = world.request(method, path, bearer(other))
    assert answer.status_code == 403, answer.text
    assert OTHER_OUTLET in answer.json()["message"]


HOLDER_ROUTES = [
    r
    for r in ROUTES
    if ("{holder_ref}" in r[1] or "{claim_id}" in r[1] or r[1] == "/holders/lookup")
    and ENDPOINTS[r] in PERMISSIONS[AccessRole.CARDHOLDER]
]


@pytest.mark.parametrize(("method", "path"), HOLDER_ROUTES)
def test_another_holders_record_reads_as_unknown(world: World, method: str, path: str) -> None:
    """A cardholder asking about someone else gets what is said of nobody: the same 404."""
    stranger = token(world.settings, AccessRole.CARDHOLDER, holder=resident_id())
    theirs = world.request(method, path, bearer(stranger))
    asker = next(
        role
        for role in (AccessRole.AUDITOR, AccessRole.CLAIMS_OFFICER, AccessRole.OUTLET_CLERK)
        if ENDPOINTS[(method, path)] in PERMISSIONS[role]
    )
    unknown_world = World(world.settings, world.client, resident_id(), str(uuid.uuid4()), "")
    nobody = unknown_world.request(method, path, bearer(token(world.settings, asker)))
    assert theirs.status_code == 404, theirs.text
    assert nobody.status_code == 404, nobody.text
    mine, unknown = theirs.json(), nobody.json()
    assert mine["code"] == unknown["code"]
    assert mine["message"].replace(world.claim_id, "ID") == _without_uuid(unknown["message"])


def _without_uuid(message: str) -> str:
    words = message.split()
    return " ".join("ID" if _is_uuid(w) else w for w in words)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def test_the_access_log_names_routes_never_holders(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="sscard.api.access"):
        world.request(
            "GET", "/holders/{holder_ref}", bearer(token(world.settings, AccessRole.AUDITOR))
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "sscard.api.access"]
    assert lines
    assert '"route": "/holders/{holder_ref}"' in lines[-1]
    assert world.holder not in "\n".join(lines)


def test_an_erased_holders_claim_is_no_cardholders(world: World) -> None:
    """Once its holder is erased a claim names nobody: a cardholder is told there is no such
    claim, exactly as for an unknown one; staff still read it (its personal data erased)."""
    holder, _ = blocked_holder(world.client)
    clerk = bearer(token(world.settings, AccessRole.OUTLET_CLERK))
    ref = holder_ref(world.client, holder)
    filed = world.client.post(
        f"/holders/{ref}/claims", json=claim_body("INV-ERASED"), headers=clerk
    )
    claim = filed.json()["claim_id"]
    erased = world.client.post(
        f"/holders/{ref}/erasure",
        json={"reason": "holder_request"},
        headers=bearer(token(world.settings, AccessRole.AUDITOR)),
    )
    assert erased.status_code == 201, erased.text
    asked = world.client.get(
        f"/claims/{claim}",
        headers=bearer(token(world.settings, AccessRole.CARDHOLDER, holder=holder)),
    )
    assert asked.status_code == 404, asked.text
    assert asked.json() == {
        "status": "refused",
        "code": "claim_not_found",
        "message": f"no claim {claim}",
    }
    officer = bearer(token(world.settings, AccessRole.CLAIMS_OFFICER))
    assert world.client.get(f"/claims/{claim}", headers=officer).status_code == 200
