"""The HTTP API answers what ``sscard --json`` prints: a claim submitted, approved and paid over
HTTP gives the same fields as the same acts on the command line; refusals carry the contract's
``code``; an ``Idempotency-Key`` replays the first answer and says so; bad input names the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from domain.authority import AccessRole
from samples import stories
from tests.api_support import (
    api_client,
    bearer,
    blocked_holder,
    claim_body,
    holder_ref,
    office,
    token,
)
from tests.conftest import make_settings
from tests.e2e.test_claims_cli import CLERK, OFFICER, submit_args
from tests.e2e.test_claims_cli import blocked_holder as cli_blocked_holder
from tests.e2e.test_cli import Cli
from tests.support import card_number, resident_id


def _cli_answers(tmp_path: Path) -> list[dict[str, Any]]:
    cli = Cli(tmp_path / "cli")
    rid = cli_blocked_holder(cli)
    submitted = json.loads(cli.ok("--json", *submit_args(rid, "INV-CLI-1", *CLERK)))
    claim = submitted["claim_id"]
    approved = json.loads(cli.ok("--json", "claims", "approve", "--claim", claim, *OFFICER))
    paid = json.loads(
        cli.ok("--json", "claims", "pay", "--claim", claim, *OFFICER, "--reference", "PAY-1")
    )
    shown = json.loads(cli.ok("--json", "claims", "show", "--claim", claim))
    return [submitted, approved, paid, shown]


def test_a_claim_over_http_answers_what_the_cli_prints(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "api")
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    officer = bearer(token(settings, AccessRole.CLAIMS_OFFICER))
    with api_client(settings) as client:
        rid, _ = blocked_holder(client)
        ref = holder_ref(client, rid)
        submitted = client.post(f"/holders/{ref}/claims", json=claim_body("INV-1"), headers=clerk)
        assert submitted.status_code == 201, submitted.text
        claim = submitted.json()["claim_id"]
        approved = client.post(f"/claims/{claim}/approval", headers=officer)
        paid = client.post(
            f"/claims/{claim}/payment", json={"payment_reference": "PAY-1"}, headers=officer
        )
        shown = client.get(f"/claims/{claim}", headers=officer)
    assert [a.status_code for a in (approved, paid, shown)] == [201, 201, 200]
    http = [submitted.json(), approved.json(), paid.json(), shown.json()]
    cli = _cli_answers(tmp_path)
    for over_http, printed in zip(http, cli, strict=True):
        assert list(over_http) == list(printed), "the same fields, in the same order"
        assert over_http["status"] == printed["status"]
    assert [a["claim_status"] for a in http] == ["submitted", "approved", "paid", "paid"]
    # Who acted comes from the token: the clerk's staff id and outlet, the officer's.
    assert http[0]["actor"] == {"role": "outlet_clerk", "staff_id": "clerk-01", "channel": None}
    assert http[0]["outlet"] == "BJ-DC-001"
    assert http[1]["actor"]["staff_id"] == "officer-01"


@pytest.fixture
def served(tmp_path: Path) -> Any:
    settings = make_settings(tmp_path)
    with api_client(settings) as client:
        yield settings, client


def test_idempotency_key_replays_the_first_answer(served: Any) -> None:
    settings, client = served
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    rid, _ = blocked_holder(client)
    ref = holder_ref(client, rid)
    key = {"Idempotency-Key": "0f6c1c2e-claim-1"}
    first = client.post(f"/holders/{ref}/claims", json=claim_body("INV-K"), headers=clerk | key)
    again = client.post(f"/holders/{ref}/claims", json=claim_body("INV-K"), headers=clerk | key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() | {"replayed": True}
    other = client.post(f"/holders/{ref}/claims", json=claim_body("INV-L"), headers=clerk | key)
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "request_id_reused"


def test_refusals_carry_the_contracts_code(served: Any) -> None:
    settings, client = served
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    officer = bearer(token(settings, AccessRole.CLAIMS_OFFICER))
    rid, _ = blocked_holder(client)
    ref = holder_ref(client, rid)
    claim = client.post(f"/holders/{ref}/claims", json=claim_body("INV-R"), headers=clerk).json()
    # The rules: a claim not approved cannot be paid (409); the invoice is reserved (409).
    unpaid = client.post(
        f"/claims/{claim['claim_id']}/payment",
        json={"payment_reference": "PAY-0001"},
        headers=officer,
    )
    assert unpaid.status_code == 409, unpaid.text
    twice = client.post(f"/holders/{ref}/claims", json=claim_body("INV-R"), headers=clerk)
    assert twice.status_code == 409, twice.text
    for answer in (unpaid, twice):
        body = answer.json()
        assert list(body) == ["status", "code", "message"]
        assert body["status"] == "refused"
        assert body["code"] not in ("", "domain_error")
    # Counted for sscard status, as the command line counts its refusals.
    refusals = client.get("/status", headers=bearer(token(settings, AccessRole.ADMIN))).json()
    assert refusals["refusals"][unpaid.json()["code"]] == 1
    # Not found: an unknown holder (404).
    unknown = client.get(f"/holders/{holder_ref(client, '11010519491231002X')}", headers=officer)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "holder_not_found"


def test_bad_input_names_the_field_and_writes_nothing(served: Any) -> None:
    settings, client = served
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    rid, _ = blocked_holder(client)
    ref = holder_ref(client, rid)
    body = claim_body("INV-B") | {"treatment_date": "yesterday"}
    answer = client.post(f"/holders/{ref}/claims", json=body, headers=clerk)
    assert answer.status_code == 422
    refusal = answer.json()
    assert refusal["status"] == "invalid"
    assert refusal["message"].startswith("body.treatment_date")
    assert "yesterday" not in refusal["message"]
    listed = client.get(f"/claims?holder_ref={ref}", headers=clerk).json()
    assert listed["count"] == 0


def test_openapi_documents_every_status(served: Any) -> None:
    _, client = served
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/holders/{holder_ref}/claims"]["post"]
    assert {"200", "201", "401", "403", "404", "409", "413", "422", "500", "503"} <= set(
        operation["responses"]
    )
    assert operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ClaimSubmission"
    )


def test_a_body_over_the_limit_is_413(served: Any) -> None:
    settings, client = served
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    answer = client.post(
        f"/holders/{holder_ref(client, '11010519491231002X')}/claims",
        content=b"{" + b" " * (1024 * 1024 + 1) + b"}",
        headers=clerk | {"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "body_too_large"


def test_an_unmasked_read_is_recorded_with_its_reason(served: Any) -> None:
    settings, client = served
    auditor = bearer(token(settings, AccessRole.AUDITOR))
    rid, _ = blocked_holder(client)
    ref = holder_ref(client, rid)
    masked = client.get(f"/holders/{ref}", headers=auditor).json()
    assert rid not in json.dumps(masked, ensure_ascii=False)
    full = client.get(
        f"/holders/{ref}/unmasked",
        params={"reason": "audit", "reference": "AUD-7"},
        headers=auditor,
    )
    assert full.status_code == 200, full.text
    assert full.json()["holder_id"] == rid
    reads = client.get("/audit/unmasked-reads", params={"holder_ref": ref}, headers=auditor).json()
    assert reads["count"] == 1
    assert (reads["reads"][0]["reason"], reads["reads"][0]["reference"]) == ("audit", "AUD-7")
    assert reads["reads"][0]["actor"]["staff_id"] == "auditor-01"  # from the token
    no_reason = client.get(f"/holders/{ref}/unmasked", headers=auditor)
    assert no_reason.status_code == 422
    assert no_reason.json()["message"].startswith("query.reason")


def test_a_fault_of_ours_answers_the_contracts_shape_with_the_request_id(
    served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, client = served

    def broken(backoffice: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr("application.operations.status_in", broken)
    answer = client.get(
        "/status",
        headers=bearer(token(settings, AccessRole.ADMIN)) | {"X-Request-Id": "req-42"},
    )
    assert answer.status_code == 500
    assert answer.json() == {
        "status": "error",
        "code": "internal_error",
        "message": "unexpected error; request id req-42",
    }
    assert answer.headers["X-Request-Id"] == "req-42"


def test_who_acts_and_where_come_from_the_token_never_the_body(served: Any) -> None:
    settings, client = served
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    rid, _ = blocked_holder(client)
    ref = holder_ref(client, rid)
    smuggled = claim_body("INV-S") | {
        "actor": {"role": "claims_officer", "staff_id": "officer-99"},
        "outlet": "BJ-XC-009",
    }
    refused = client.post(f"/holders/{ref}/claims", json=smuggled, headers=clerk)
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"].startswith("body.actor")
    # A cardholder pre-reports their own card online: no staff, no outlet.
    holder, card = resident_id(), card_number()
    office(client).issue_card(stories.issue(holder, card, region="110000"))
    own = bearer(token(settings, AccessRole.CARDHOLDER, holder=holder))
    reported = client.post(
        f"/holders/{holder_ref(client, holder)}/pre-reports", json={}, headers=own
    )
    assert reported.status_code == 201, reported.text
    assert reported.json()["actor"] == {"role": "cardholder", "staff_id": None, "channel": "online"}
    assert reported.json()["outlet"] is None
    someone_else = client.post(f"/holders/{ref}/pre-reports", json={}, headers=own)
    assert someone_else.status_code == 404
    assert someone_else.json()["code"] == "holder_not_found"


def test_no_such_route_answers_the_contracts_shape(served: Any) -> None:
    _, client = served
    nowhere = client.get("/no/such/route")
    assert (nowhere.status_code, nowhere.json()["code"]) == (404, "no_such_route")
    wrong_method = client.delete("/status")
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "method_not_allowed")
    assert "GET" in wrong_method.headers["Allow"]
