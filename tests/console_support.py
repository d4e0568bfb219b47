"""What the console's tests share: a client signed in through the sign-in form (as a browser
does), the CSRF token of a page's forms, a holder whose new card is ready for pickup."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from domain.application import CardOffice
from samples import stories
from service.settings import Settings
from tests.support import card_number, resident_id

PICKUP = stories.PICKUP  # where the stories' replacement cards are collected
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]*)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, token: str) -> None:
    form = client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={"token": token, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def signed_in_client(settings: Settings, app: object, token: str, **kwargs: object) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False, **kwargs)  # type: ignore[arg-type]
    sign_in(client, token)
    return client


def ready_for_pickup(office: CardOffice) -> tuple[str, str, str]:
    """A holder (resident ID number) whose replacement card (its number) was produced and waits
    at ``PICKUP`` under a certificate (its number)."""
    rid, new_card = resident_id(), card_number()
    office.issue_card(stories.issue(rid, card_number(), holder_name="王小明"))
    office.pre_report_loss(stories.pre_report(rid))
    application = office.report_loss_formally(stories.report(rid))
    office.record_production(stories.produce(application.certificate_number, new_card))
    return rid, new_card, application.certificate_number
