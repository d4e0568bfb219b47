"""Every listing of the HTTP API is paged and bounded: a holder's history, the unmasked reads,
the dead letters (as the claims and the outlet queue already are): ``page`` and ``page_size``
(at most 500), oldest first, ``total`` beside the page."""

from __future__ import annotations

from pathlib import Path

from consumers import dead_letters
from domain.authority import AccessRole
from tests.api_support import api_client, bearer, blocked_holder, holder_ref, token
from tests.conftest import make_settings


def test_every_listing_is_paged_and_bounded(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    auditor = bearer(token(settings, AccessRole.AUDITOR))
    admin = bearer(token(settings, AccessRole.ADMIN))
    with api_client(settings) as client:
        rid, _ = blocked_holder(client)  # issued, pre-reported: two events
        ref = holder_ref(client, rid)
        for _ in range(3):
            read = client.get(
                f"/holders/{ref}/unmasked", params={"reason": "audit"}, headers=auditor
            )
            assert read.status_code == 200, read.text
        backoffice = client.app.state.backoffice  # type: ignore[attr-defined]
        backoffice.views.create((dead_letters.dead_letters_table,))
        with backoffice.views.transaction() as tx:
            for offset in range(3):
                dead_letters.park(
                    tx, "outlet_queue", "t.card-events", 0, offset, b"k", b"{}", "test", True
                )

        history = client.get(f"/holders/{ref}/history", params={"page_size": 1}, headers=auditor)
        assert history.status_code == 200, history.text
        first = history.json()
        assert (first["total"], first["page"], first["page_size"]) == (2, 1, 1)
        assert [e["type"] for e in first["entries"]] == ["CardIssued"]
        second = client.get(
            f"/holders/{ref}/history", params={"page": 2, "page_size": 1}, headers=auditor
        ).json()
        assert [e["type"] for e in second["entries"]] == ["LossPreReported"]

        reads = client.get(
            "/audit/unmasked-reads", params={"page": 2, "page_size": 2}, headers=auditor
        ).json()
        assert (reads["count"], reads["total"]) == (1, 3)

        parked = client.get("/dead-letters", params={"page_size": 2}, headers=admin).json()
        assert (parked["count"], parked["total"]) == (2, 3)
        assert [m["offset"] for m in parked["messages"]] == [0, 1]

        for path, headers in (
            (f"/holders/{ref}/history", auditor),
            ("/audit/unmasked-reads", auditor),
            ("/dead-letters", admin),
            ("/claims", auditor),
        ):
            too_big = client.get(path, params={"page_size": 501}, headers=headers)
            assert too_big.status_code == 422, (path, too_big.text)
            assert client.get(path, params={"page": 0}, headers=headers).status_code == 422
