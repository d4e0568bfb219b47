"""No resident ID number in the API's paths or queries: a holder is named by their reference (the
store's keyed stream id), which ``POST /holders/lookup`` gives for an ID number sent in the body.
A cardholder looks up their own only; whatever names no holder (garbage, a claim's id, an ID
number nobody has) is answered as an unknown holder is. An erased holder's record is still read
by reference, takes no further command, and its erasure asked again is already on record."""

from __future__ import annotations

from pathlib import Path

import pytest

from application import views
from domain.authority import UNKNOWN_HOLDER, AccessRole
from tests.api_support import api_client, bearer, blocked_holder, claim_body, token
from tests.api_support import holder_ref as holder_ref_of
from tests.conftest import make_settings
from tests.support import resident_id


def test_a_holder_is_named_by_reference_never_by_id_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    auditor = bearer(token(settings, AccessRole.AUDITOR))
    with api_client(settings) as client, caplog.at_level("INFO", logger="sscard.api.access"):
        rid, _ = blocked_holder(client)
        found = client.post("/holders/lookup", json={"holder": rid}, headers=clerk)
        assert found.status_code == 200, found.text
        ref = found.json()["holder_ref"]
        assert rid not in found.text  # masked
        state = client.get(f"/holders/{ref}", headers=clerk)
        assert state.status_code == 200, state.text
        assert state.json()["stream_id"] == ref

        # A cardholder: their own reference; another's is refused as nobody's is.
        other, _ = blocked_holder(client)
        own = bearer(token(settings, AccessRole.CARDHOLDER, holder=rid))
        assert client.post("/holders/lookup", json={"holder": rid}, headers=own).json() == (
            found.json()
        )
        theirs = client.post("/holders/lookup", json={"holder": other}, headers=own)
        nobody = client.post("/holders/lookup", json={"holder": resident_id()}, headers=clerk)
        for refused in (theirs, nobody):
            assert refused.status_code == 404, refused.text
            assert refused.json()["message"] == UNKNOWN_HOLDER
        bad = client.post("/holders/lookup", json={"holder": "12345"}, headers=clerk)
        assert bad.status_code == 422
        assert bad.json()["message"].startswith("body.holder: ")
        assert "12345" not in bad.text

        # What names no holder reads as an unknown holder.
        filed = client.post(f"/holders/{ref}/claims", json=claim_body("INV-1"), headers=clerk)
        assert filed.status_code == 201, filed.text
        for wrong in ("not-a-reference", filed.json()["claim_id"]):
            answer = client.get(f"/holders/{wrong}", headers=clerk)
            assert answer.status_code == 404, answer.text
            assert answer.json()["message"] == UNKNOWN_HOLDER
        client.post(
            f"/holders/{holder_ref_of(client, other)}/claims",
            json=claim_body("INV-2"),
            headers=clerk,
        )
        views.replay(settings, ["claims"], workers=1)
        listed = client.get("/claims", params={"holder_ref": ref}, headers=clerk).json()
        assert [c["claim_id"] for c in listed["claims"]] == [filed.json()["claim_id"]]

        # Erased: read by reference still, no further command, the erasure already on record.
        erased = client.post(
            f"/holders/{ref}/erasure", json={"reason": "holder_request"}, headers=auditor
        )
        assert erased.status_code == 201, erased.text
        again = client.post(
            f"/holders/{ref}/erasure", json={"reason": "holder_request"}, headers=auditor
        )
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "already_recorded"
        assert again.json()["event_id"] == erased.json()["event_id"]
        assert client.get(f"/holders/{ref}", headers=auditor).json()["erased_at"] is not None
        closed = client.post(f"/holders/{ref}/pre-reports", json={}, headers=clerk)
        assert closed.status_code == 409, closed.text
        assert closed.json()["code"] == "holder_erased"
        assert client.get(f"/holders/{ref}", headers=own).status_code == 404
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/holders/{holder_ref}" in logged
    assert rid not in logged
    assert other not in logged
