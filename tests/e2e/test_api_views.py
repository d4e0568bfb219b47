"""The read models' operations over HTTP, as the command line runs them: an admin rebuilds the
views from the store (after which a query asked ``after`` the last write answers at once), an
auditor verifies them against a rebuild, an analyst's export comes as CSV. One rebuild at a time
per process: a second is refused at once."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from api.view_routes import RebuildRunning, _rebuilding
from application.catalogue import VIEW_NAMES
from domain.authority import AccessRole
from projections.analytics import CASE_COLUMNS
from samples import stories
from tests.api_support import OUTLET, api_client, bearer, office, token
from tests.conftest import make_settings
from tests.support import card_number, resident_id


def test_replay_verify_and_the_analytics_over_http(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    clerk = bearer(token(settings, AccessRole.OUTLET_CLERK))
    admin = bearer(token(settings, AccessRole.ADMIN))
    auditor = bearer(token(settings, AccessRole.AUDITOR))
    with api_client(settings) as client:
        rid = resident_id()
        office(client).issue_card(stories.issue(rid, card_number(), region="110000"))
        report = {
            "holder": rid,
            "identity_documents": ["holder_id_original", "holder_id_copy"],
            "collection_outlet": OUTLET,
        }
        reported = client.post(f"/outlets/{OUTLET}/loss-reports", json=report, headers=clerk)
        assert reported.status_code == 201, reported.text
        position = reported.json()["store_position"]
        queue = f"/outlets/{OUTLET}/queue"
        after = {"status": "awaiting-production", "after": position, "wait": 0}
        assert client.get(queue, params=after, headers=clerk).status_code == 409

        replayed = client.post("/views/replays", json={}, headers=admin)
        assert replayed.status_code == 200, replayed.text
        assert [v["view"] for v in replayed.json()["views"]] == list(VIEW_NAMES)
        assert all(v["position"] >= position for v in replayed.json()["views"])
        reached = client.get(queue, params=after, headers=clerk)
        assert reached.status_code == 200, reached.text
        assert reached.json()["counts"]["awaiting-production"] == 1

        verified = client.get("/views/verification", params={"wait": 0}, headers=auditor)
        assert verified.status_code == 200, verified.text
        assert verified.json()["equal"] is True
        assert [v["view"] for v in verified.json()["views"]] == list(VIEW_NAMES)

        exported = client.get(
            "/analytics/cases", params={"after": position, "wait": 1}, headers=auditor
        )
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert list(rows[0]) == list(CASE_COLUMNS)
        assert len(rows) == 1
        assert rid not in exported.text
        assert client.get("/analytics/nothing", headers=auditor).status_code == 422
        bad = client.post("/views/replays", json={"views": ["nothing"]}, headers=admin)
        assert bad.status_code == 422, bad.text


def test_one_rebuild_at_a_time() -> None:
    with _rebuilding(), pytest.raises(RebuildRunning), _rebuilding():
        pass
    with _rebuilding():  # released: the next one runs
        pass
