"""Read-your-writes over HTTP, without Kafka: a command answers its event's ``store_position``;
a query over a view given ``after`` waits for the view to hold that event, and when the wait runs
out answers 409 ``view_behind`` (quickly, with a tiny wait) saying how far the view had got. Once
the view holds the event (here: rebuilt from the store) the same query answers at once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from application import views
from application.store_positions import position_of
from domain.authority import AccessRole
from tests.api_support import (
    OUTLET,
    api_client,
    bearer,
    blocked_holder,
    claim_body,
    holder_ref,
    office,
    token,
)
from tests.conftest import make_settings
from tests.support import card_number, resident_id


def test_a_query_waits_for_the_commands_position_and_says_when_the_view_is_behind(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    card = card_number()
    issue = {"holder": resident_id(), "holder_name": "张三", "region_code": "110000"}
    with api_client(settings) as client:
        issued = client.post(
            f"/outlets/{OUTLET}/cards", json=issue | {"card_number": card}, headers=clerk
        )
        assert issued.status_code == 201, issued.text
        ref = issued.json()["stream_id"]  # the holder's reference
        reported = client.post(f"/holders/{ref}/pre-reports", json={}, headers=clerk)
        assert reported.status_code == 201, reported.text
        position = reported.json()["store_position"]
        assert position > issued.json()["store_position"] >= 1
        # What the save told is the store's own record of the event.
        stream_id, version = uuid.UUID(ref), reported.json()["version"]
        assert position_of(office(client), stream_id, version) == position
        queue = f"/outlets/{OUTLET}/queue"
        ask = {"status": "pre-reported-today", "after": position, "wait": 0.3}
        started = time.monotonic()
        behind = client.get(queue, params=ask, headers=clerk)
        took = time.monotonic() - started
        assert behind.status_code == 409, behind.text
        assert 0.3 <= took < 5
        assert behind.headers["Retry-After"] == "1"
        answer = behind.json()
        assert answer["code"] == "view_behind"
        assert answer["after"] == position
        assert answer["stream_version_wanted"] == reported.json()["version"]
        assert answer["stream_version_applied"] == 0
        assert answer["relay_published_through"] == 0  # no relay runs here: said so
        assert "not published" in answer["message"]

        views.replay(settings, ["outlet_queue"], workers=1)
        reached = client.get(queue, params=ask, headers=clerk)
        assert reached.status_code == 200, reached.text
        assert [e["card_number"] for e in reached.json()["entries"]] == [card]


def test_after_names_an_event_of_the_store(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    with api_client(settings) as client:
        rid, _ = blocked_holder(client)
        ref = holder_ref(client, rid)
        filed = client.post(f"/holders/{ref}/claims", json=claim_body("INV-1"), headers=clerk)
        assert filed.status_code == 201, filed.text
        claim_position = filed.json()["store_position"]
        assert claim_position >= 1
        queue = f"/outlets/{OUTLET}/queue"
        # A claim's event is none of the outlet queue's: nothing to wait for.
        started = time.monotonic()
        answer = client.get(queue, params={"after": claim_position, "wait": 5}, headers=clerk)
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - started < 2
        # ...but the claims view reads it: behind, as no consumer runs here.
        officer = bearer(token(settings, AccessRole.CLAIMS_OFFICER))
        claims = client.get("/claims", params={"after": claim_position, "wait": 0}, headers=officer)
        assert claims.status_code == 409, claims.text
        unknown = client.get(queue, params={"after": 10**9}, headers=clerk)
        assert unknown.status_code == 422, unknown.text
        assert unknown.json()["code"] == "unknown_position"
        too_long = client.get(queue, params={"after": 1, "wait": 31}, headers=clerk)
        assert too_long.status_code == 422, too_long.text
        assert too_long.json()["message"].startswith("query.wait")
