"""The web console in process (FastAPI's TestClient over the API's app, a real SQLite store):
its session cookie's flags, CSRF on every form (a refused form writes nothing), its security
headers, the permission table on every page (a clerk of one outlet cannot see or act at
another; a role without the page's action gets 403; a cardholder sees only their own record),
refusals as pages with the right status, the language switch."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from api.app import create_app
from application import audit, claims, views
from console.headers import CONTENT_SECURITY_POLICY
from console.pages import PAGES, PUBLIC_PAGES
from domain.application import CardOffice
from domain.authority import UNKNOWN_HOLDER, AccessRole
from service.settings import Settings
from tests.api_support import (
    OTHER_OUTLET,
    bearer,
    blocked_holder,
    claim_body,
    holder_ref,
    token,
)
from tests.conftest import make_settings
from tests.console_support import PICKUP, csrf_of, ready_for_pickup, sign_in
from tests.support import resident_id

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class Console:
    settings: Settings
    app: FastAPI
    office: CardOffice

    def client(self, role: AccessRole | None = None, **kwargs: object) -> TestClient:
        """A browser; signed in with ``role``'s token when given (a clerk of ``PICKUP``)."""
        client = TestClient(self.app, raise_server_exceptions=False, **kwargs)  # type: ignore[arg-type]
        if role is not None:
            sign_in(client, self.token(role))
        return client

    def token(self, role: AccessRole, **kwargs: object) -> str:
        if role is AccessRole.OUTLET_CLERK:
            kwargs.setdefault("outlet", PICKUP)
        return token(self.settings, role, **kwargs)  # type: ignore[arg-type]

    def catch_up(self) -> None:
        """The outlet queue view rebuilt from the store (the consumers' work, done at once)."""
        views.replay(self.settings, ["outlet_queue"], workers=1)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    settings = make_settings(tmp_path_factory.mktemp("console"))
    app = create_app(settings)
    with TestClient(app):  # the lifespan opens the back office for every client below
        yield Console(settings, app, app.state.backoffice.office)


def _cookie_attributes(answer: object, name: str) -> list[str]:
    headers = answer.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    [cookie] = [h for h in headers if h.startswith(f"{name}=")]
    return [part.strip().lower() for part in cookie.split(";")]


def _signed_in_answer(console: Console, client: TestClient, **headers: str) -> object:
    form = client.get("/console/sign-in", headers=headers)
    return client.post(
        "/console/sign-in",
        data={"token": console.token(AccessRole.OUTLET_CLERK), "csrf": csrf_of(form.text)},
        headers=headers,
        follow_redirects=False,
    )


# ---- the session -------------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_console(
    console: Console,
) -> None:
    answer = _signed_in_answer(console, console.client())
    attributes = _cookie_attributes(answer, "sscard_session")
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/console" in attributes
    assert "secure" not in attributes, "plain http on loopback: a Secure cookie would be lost"
    assert any(a.startswith("max-age=") and 3500 < int(a[8:]) <= 3600 for a in attributes)


def test_the_session_cookie_is_secure_over_tls(console: Console) -> None:
    answer = _signed_in_answer(console, console.client(base_url="https://testserver"))
    assert "secure" in _cookie_attributes(answer, "sscard_session")


def test_a_forwarded_proto_is_believed_only_where_the_settings_trust_the_proxy(
    console: Console, tmp_path: Path
) -> None:
    untrusted = _signed_in_answer(console, console.client(), **{"X-Forwarded-Proto": "https"})
    assert "secure" not in _cookie_attributes(untrusted, "sscard_session")
    assert "strict-transport-security" not in untrusted.headers  # type: ignore[attr-defined]
    trusting = make_settings(tmp_path, console_trust_forwarded_proto=True)
    with TestClient(create_app(trusting)) as client:
        form = client.get("/console/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" in form.headers
    assert "secure" in _cookie_attributes(form, "sscard_pre_session")


def test_a_refused_token_signs_nobody_in(console: Console) -> None:
    client = console.client()
    form = client.get("/console/sign-in")
    forged = console.token(AccessRole.AUDITOR)[:-6] + "AAAAAA"
    answer = client.post("/console/sign-in", data={"token": forged, "csrf": csrf_of(form.text)})
    assert answer.status_code == 401
    assert "令牌未通过验证" in answer.text
    assert "sscard_session" not in answer.headers.get("set-cookie", "")
    assert (
        client.get("/console/", follow_redirects=False)
        .headers["location"]
        .endswith("/console/sign-in")
    )


def test_the_token_is_verified_on_every_request_its_expiry_ends_the_session(
    console: Console,
) -> None:
    verifier = console.app.state.verifier
    console.app.state.verifier = dataclasses.replace(verifier, leeway=timedelta(0))
    try:
        client = console.client()
        # Kept past its Max-Age (a browser may): the token's own expiry still ends it.
        short = console.token(AccessRole.AUDITOR, ttl=timedelta(seconds=1))
        client.cookies.set("sscard_session", short, path="/console")
        assert client.get("/console/", follow_redirects=False).status_code == 200
        time.sleep(1.2)
        answer = client.get("/console/queue?outlet=" + PICKUP, follow_redirects=False)
    finally:
        console.app.state.verifier = verifier
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?expired=1"
    assert "max-age=0" in _cookie_attributes(answer, "sscard_session")


def test_signing_out_clears_the_cookie(console: Console) -> None:
    client = console.client(AccessRole.AUDITOR)
    home = client.get("/console/")
    answer = client.post(
        "/console/sign-out", data={"csrf": csrf_of(home.text)}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert "max-age=0" in _cookie_attributes(answer, "sscard_session")
    assert client.get("/console/", follow_redirects=False).status_code == 303


# ---- CSRF --------------------------------------------------------------------------------------


def _collection_form(console: Console, client: TestClient) -> tuple[str, dict[str, str]]:
    """A card ready at PICKUP and the form fields that collect it (without a CSRF token)."""
    rid, _card, certificate = ready_for_pickup(console.office)
    return rid, {"outlet": PICKUP, "holder": rid, "certificate": certificate}


def test_a_form_without_its_csrf_token_writes_nothing(console: Console) -> None:
    client = console.client(AccessRole.OUTLET_CLERK)
    other = console.client(AccessRole.OUTLET_CLERK)
    rid, fields = _collection_form(console, client)
    before = len(console.office.history(rid))
    for csrf in (None, "", "0" * 64, csrf_of(other.get("/console/").text)):
        data = fields if csrf is None else fields | {"csrf": csrf}
        answer = client.post("/console/queue/collections", data=data, follow_redirects=False)
        assert answer.status_code == 403, (csrf, answer.text)
        assert "csrf_refused" in answer.text
    assert len(console.office.history(rid)) == before, "a refused form recorded nothing"
    good = fields | {"csrf": csrf_of(client.get("/console/").text)}
    done = client.post("/console/queue/collections", data=good, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert len(console.office.history(rid)) == before + 1


def test_the_sign_in_form_needs_its_csrf_token_too(console: Console) -> None:
    client = console.client()
    client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={"token": console.token(AccessRole.AUDITOR)},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert "sscard_session" not in answer.headers.get("set-cookie", "")


# ---- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/console/sign-in", "/console/", "/console/queue", "/console/nowhere"]
)
def test_every_console_response_carries_the_security_headers(console: Console, path: str) -> None:
    answer = console.client(AccessRole.OUTLET_CLERK).get(path)
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in answer.headers
    assert "<script" not in answer.text, "no script on any page: the policy allows none inline"


def test_hsts_over_tls(console: Console) -> None:
    answer = console.client(base_url="https://testserver").get("/console/sign-in")
    assert answer.headers["strict-transport-security"].startswith("max-age=")


# ---- the permission table ----------------------------------------------------------------------


def test_every_console_page_is_in_the_page_table(console: Console) -> None:
    [mount] = [r for r in console.app.routes if isinstance(r, Mount) and r.path == "/console"]
    declared = {
        (method, route.path)
        for route in mount.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert declared - PUBLIC_PAGES == set(PAGES)


def test_a_clerk_of_one_outlet_cannot_see_or_act_at_another(console: Console) -> None:
    client = console.client(AccessRole.OUTLET_CLERK)
    seen = client.get(f"/console/queue?outlet={OTHER_OUTLET}")
    assert seen.status_code == 403
    assert OTHER_OUTLET in seen.text
    assert "forbidden" in seen.text
    rid, fields = _collection_form(console, client)
    before = len(console.office.history(rid))
    csrf = csrf_of(client.get("/console/").text)
    acted = client.post(
        "/console/queue/collections", data=fields | {"outlet": OTHER_OUTLET, "csrf": csrf}
    )
    assert acted.status_code == 403
    assert len(console.office.history(rid)) == before


def test_a_role_without_the_pages_action_gets_403_as_a_page(console: Console) -> None:
    answer = console.client(AccessRole.PRODUCTION_CENTRE).get("/console/queue")
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "a production_centre may not read an outlet&#39;s queue" in answer.text
    assert "Traceback" not in answer.text


def test_a_rule_refusal_is_a_409_page_and_writes_nothing(console: Console) -> None:
    client = console.client(AccessRole.OUTLET_CLERK)
    rid, fields = _collection_form(console, client)
    before = len(console.office.history(rid))
    stranger = ready_for_pickup(console.office)[0]
    csrf = csrf_of(client.get("/console/").text)
    answer = client.post(
        "/console/queue/collections", data=fields | {"holder": stranger, "csrf": csrf}
    )
    assert answer.status_code in (404, 409), answer.text
    assert 'role="alert"' in answer.text
    assert len(console.office.history(rid)) == before


def test_a_signed_out_visitor_is_sent_to_sign_in(console: Console) -> None:
    answer = console.client().get("/console/queue", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"


# ---- the clerk's queue -------------------------------------------------------------------------


def test_the_clerk_collects_and_activates_from_the_queue(console: Console) -> None:
    client = console.client(AccessRole.OUTLET_CLERK)
    rid, card, certificate = ready_for_pickup(console.office)
    console.catch_up()
    ready = client.get("/console/queue")
    assert ready.status_code == 200
    assert f'data-certificate="{certificate}"' in ready.text
    assert rid not in ready.text, "the queue shows masked names, never ID numbers"
    fields = {"outlet": PICKUP, "holder": rid, "certificate": certificate}
    done = client.post("/console/queue/collections", data=fields | {"csrf": csrf_of(ready.text)})
    assert done.status_code == 200
    assert str(done.url).endswith("/console/queue?status=ready&done=done.collected")
    assert "已登记领卡" in done.text
    console.catch_up()
    assert f'data-certificate="{certificate}"' not in client.get("/console/queue").text
    collected = client.get("/console/queue?status=collected")
    assert card in collected.text
    activated = client.post(
        "/console/queue/activations",
        data={"outlet": PICKUP, "holder": rid, "card_number": card, "csrf": csrf_of(ready.text)},
    )
    assert activated.status_code == 200, activated.text
    assert "已启用新卡" in activated.text
    assert type(console.office.history(rid)[-1]).__name__ == "CardActivated"


# ---- language ----------------------------------------------------------------------------------


def test_chinese_by_default_english_on_request_and_remembered(console: Console) -> None:
    client = console.client()
    assert '<html lang="zh-CN">' in client.get("/console/sign-in").text
    english = client.get("/console/sign-in?lang=en")
    assert '<html lang="en">' in english.text
    assert "Sign in" in english.text
    assert "httponly" in _cookie_attributes(english, "sscard_lang")
    assert "Access token" in client.get("/console/sign-in").text, "the choice is remembered"
    assert "访问令牌" in client.get("/console/sign-in?lang=zh").text


# ---- a holder's history ------------------------------------------------------------------------


def _reads_of(console: Console, rid: str) -> int:
    return audit.unmasked_reads(console.office, audit.UnmaskedReadsQuery(resident_id=rid)).count


def _ref(console: Console, rid: str) -> str:
    """The holder's reference, as the app computes it (any ID number has one)."""
    return str(console.office.holder_id(rid))


def _looked_up(client: TestClient, rid: str) -> str:
    """The history page's URL a staff member's lookup form redirects to, for an ID number."""
    form = client.get("/console/history")
    answer = client.post(
        "/console/history",
        data={"holder": rid, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def test_a_cardholder_sees_their_own_history_only(console: Console) -> None:
    rid, _card, _certificate = ready_for_pickup(console.office)
    stranger = ready_for_pickup(console.office)[0]
    client = console.client()
    sign_in(client, console.token(AccessRole.CARDHOLDER, holder=rid))
    redirected = client.get("/console/history", follow_redirects=False)
    assert redirected.status_code == 303
    assert redirected.headers["location"] == f"/console/holders/{_ref(console, rid)}/history"
    own = client.get("/console/history")
    assert own.status_code == 200
    assert rid not in str(own.url), "the address names the reference, never the ID number"
    assert "LossFormallyReported" in own.text
    assert rid not in own.text, "masked: the ID number is not shown whole"
    assert rid[:6] in own.text
    assert 'id="holder"' not in own.text, "a cardholder looks nobody up"
    theirs = client.get(f"/console/holders/{_ref(console, stranger)}/history")
    nobody = client.get(f"/console/holders/{_ref(console, resident_id())}/history")
    garbage = client.get("/console/holders/not-a-reference/history")
    assert theirs.status_code == nobody.status_code == garbage.status_code == 404
    assert theirs.text.count(UNKNOWN_HOLDER) == nobody.text.count(UNKNOWN_HOLDER) == 1
    assert garbage.text.count(UNKNOWN_HOLDER) == 1
    csrf = csrf_of(own.text)
    looked_up = client.post(
        "/console/history", data={"holder": stranger, "csrf": csrf}, follow_redirects=False
    )
    assert looked_up.status_code == 404, "another holder's ID number reads as unknown"
    assert looked_up.text.count(UNKNOWN_HOLDER) == 1
    mine = client.post("/console/history", data={"holder": rid, "csrf": csrf})
    assert mine.status_code == 200
    assert str(mine.url) == str(own.url)
    assert (
        client.post(
            f"/console/holders/{_ref(console, rid)}/history/unmasked",
            data={"reason": "audit", "csrf": csrf},
        ).status_code
        == 403
    )


def test_staff_look_a_holder_up_by_a_form_and_read_them_by_reference(console: Console) -> None:
    rid = ready_for_pickup(console.office)[0]
    client = console.client(AccessRole.OUTLET_CLERK)
    form = client.get("/console/history")
    assert 'method="post" action="/console/history"' in form.text
    assert client.post("/console/history", data={"holder": rid}).status_code == 403, (
        "the lookup needs the form's CSRF token"
    )
    url = _looked_up(client, rid)
    assert url == f"/console/holders/{_ref(console, rid)}/history"
    shown = client.get(url)
    assert shown.status_code == 200
    assert "LossFormallyReported" in shown.text
    assert rid not in shown.text, "masked, and the ID number kept in no field of the page"
    csrf = csrf_of(form.text)
    unknown = client.post("/console/history", data={"holder": resident_id(), "csrf": csrf})
    assert unknown.status_code == 404
    bad = client.post("/console/history", data={"holder": rid[:17] + "?", "csrf": csrf})
    assert bad.status_code == 422
    assert rid[:17] not in bad.text, "a bad ID number is named, never echoed"


def test_an_auditors_full_read_is_recorded_with_its_reason_and_needs_the_form_token(
    console: Console,
) -> None:
    rid, _card, _certificate = ready_for_pickup(console.office)
    client = console.client(AccessRole.AUDITOR)
    url = _looked_up(client, rid)
    masked = client.get(url)
    assert masked.status_code == 200
    assert rid not in masked.text
    unmask = f"{url}/unmasked"
    assert f'action="{unmask}"' in masked.text
    fields = {"reason": "audit", "reference": "AUD-2026-7"}
    refused = client.post(unmask, data=fields)
    assert refused.status_code == 403
    assert _reads_of(console, rid) == 0, "no read recorded without the form's token"
    full = client.post(unmask, data=fields | {"csrf": csrf_of(masked.text)})
    assert full.status_code == 200, full.text
    assert rid in full.text
    assert _reads_of(console, rid) == 1
    clerk = console.client(AccessRole.OUTLET_CLERK)
    page = clerk.get(url)
    assert page.status_code == 200
    assert 'id="unmask"' not in page.text
    tried = clerk.post(unmask, data=fields | {"csrf": csrf_of(page.text)})
    assert tried.status_code == 403
    assert _reads_of(console, rid) == 1


# ---- the claims queue --------------------------------------------------------------------------


def _claim(console: Console) -> tuple[str, str]:
    """A claim filed for a holder whose card is blocked: (holder, claim id)."""
    api = TestClient(console.app, raise_server_exceptions=False)  # the lifespan runs above
    holder, _ = blocked_holder(api)
    filed = api.post(
        f"/holders/{holder_ref(api, holder)}/claims",
        json=claim_body(f"INV-{uuid.uuid4().hex[:8]}"),
        headers=bearer(token(console.settings, AccessRole.OUTLET_CLERK)),
    )
    assert filed.status_code == 201, filed.text
    return holder, filed.json()["claim_id"]


def test_the_claims_officer_approves_and_pays_from_the_queue(console: Console) -> None:
    _holder, claim_id = _claim(console)
    views.replay(console.settings, ["claims"], workers=1)
    client = console.client(AccessRole.CLAIMS_OFFICER)
    queue = client.get("/console/claims")
    assert queue.status_code == 200
    assert f'data-claim="{claim_id}"' in queue.text
    shown = client.get(f"/console/claims/{claim_id}")
    assert 'id="approve"' in shown.text
    assert 'id="computation"' not in shown.text, "computed on approval"
    approved = client.post(
        f"/console/claims/{claim_id}/approval", data={"csrf": csrf_of(shown.text)}
    )
    assert approved.status_code == 200, approved.text
    assert "已核准理赔" in approved.text
    assert 'id="computation"' in approved.text
    payable = claims.show_claim(console.office, uuid.UUID(claim_id)).payable_yuan
    assert f"<strong>{payable}</strong>" in approved.text
    paid = client.post(
        f"/console/claims/{claim_id}/payment",
        data={"csrf": csrf_of(approved.text), "payment_reference": "PAY-7"},
    )
    assert paid.status_code == 200, paid.text
    assert claims.show_claim(console.office, uuid.UUID(claim_id)).claim_status == "paid"
    again = client.post(
        f"/console/claims/{claim_id}/payment",
        data={"csrf": csrf_of(approved.text), "payment_reference": "PAY-8"},
    )
    assert again.status_code == 409, "a rule's refusal is a page with its status"
    assert "Traceback" not in again.text


def test_a_claim_decision_needs_the_role_and_the_form_token(console: Console) -> None:
    _holder, claim_id = _claim(console)
    officer = console.client(AccessRole.CLAIMS_OFFICER)
    fields = {"reason": "bill_mismatch", "explanation": "the list does not add up"}
    assert officer.post(f"/console/claims/{claim_id}/rejection", data=fields).status_code == 403
    clerk = console.client(AccessRole.OUTLET_CLERK)
    csrf = csrf_of(clerk.get(f"/console/claims/{claim_id}").text)
    refused = clerk.post(f"/console/claims/{claim_id}/rejection", data=fields | {"csrf": csrf})
    assert refused.status_code == 403
    status = claims.show_claim(console.office, uuid.UUID(claim_id)).claim_status
    assert status == "submitted", "nothing written"
    csrf = csrf_of(officer.get(f"/console/claims/{claim_id}").text)
    done = officer.post(f"/console/claims/{claim_id}/rejection", data=fields | {"csrf": csrf})
    assert done.status_code == 200
    assert claims.show_claim(console.office, uuid.UUID(claim_id)).claim_status == "rejected"


def test_a_cardholder_sees_their_own_claims_only(console: Console) -> None:
    holder, claim_id = _claim(console)
    _other, other_claim = _claim(console)
    views.replay(console.settings, ["claims"], workers=1)
    client = console.client()
    sign_in(client, console.token(AccessRole.CARDHOLDER, holder=holder))
    listed = client.get("/console/claims")
    assert f'data-claim="{claim_id}"' in listed.text
    assert f'data-claim="{other_claim}"' not in listed.text
    assert client.get(f"/console/claims/{claim_id}").status_code == 200
    assert client.get(f"/console/claims/{other_claim}").status_code == 404


def test_the_language_switch_keeps_the_page(console: Console) -> None:
    client = console.client(AccessRole.OUTLET_CLERK)
    page = client.get("/console/queue?status=collected&done=done.collected")
    assert 'href="?status=collected&amp;lang=en"' in page.text


def test_the_access_log_names_console_routes_never_holders(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    rid = ready_for_pickup(console.office)[0]
    client = console.client(AccessRole.AUDITOR)
    with caplog.at_level("INFO", logger="sscard.api.access"):
        assert client.get(_looked_up(client, rid)).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "sscard.api.access"]
    assert any('"route": "/history"' in line and '"POST"' in line for line in lines)
    assert '"route": "/holders/{holder_ref}/history"' in lines[-1]
    assert '"role": "auditor"' in lines[-1]
    logged = "\n".join(lines)
    assert rid not in logged
    assert _ref(console, rid) not in logged, "the route as declared, not the path as sent"
