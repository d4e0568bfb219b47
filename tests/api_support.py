"""What the HTTP API's tests share: development tokens of each role, a client over a store, a
holder whose card is blocked (so that a claim may be filed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from api.app import create_app
from application.dev_tokens import issue_development_token
from application.tokens import TokenRequest, dev_key_dir
from domain.application import CardOffice
from domain.authority import AccessRole, Principal
from samples import stories
from service.settings import Settings
from tests.support import card_number, resident_id

OUTLET = "BJ-DC-001"
OTHER_OUTLET = "BJ-XC-009"
HOSPITAL = "H11010500007"

# The subject of each role's development token (staff roles act under a staff id).
SUBJECTS = {
    AccessRole.OUTLET_CLERK: "clerk-01",
    AccessRole.PRODUCTION_CENTRE: "producer-01",
    AccessRole.CLAIMS_OFFICER: "officer-01",
    AccessRole.AUDITOR: "auditor-01",
    AccessRole.SETTLEMENT: "his-01",
    AccessRole.CARDHOLDER: "holder-online",
    AccessRole.ADMIN: "admin-01",
}


def token(
    settings: Settings,
    role: AccessRole,
    outlet: str | None = None,
    holder: str | None = None,
    ttl: timedelta = timedelta(hours=1),
) -> str:
    """A development token signed with the key pair in the settings' state directory."""
    if role is AccessRole.OUTLET_CLERK and outlet is None:
        outlet = OUTLET
    principal = Principal(subject=SUBJECTS[role], role=role, outlet=outlet, holder=holder)
    issued = issue_development_token(
        TokenRequest(principal=principal, ttl=ttl),
        dev_key_dir(settings.state_dir),
        datetime.now(UTC),
    )
    return issued.token


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@contextmanager
def api_client(settings: Settings) -> Iterator[TestClient]:
    """The app over the settings' store, started (lifespan run) and stopped around the block."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def office(client: TestClient) -> CardOffice:
    office: CardOffice = client.app.state.backoffice.office  # type: ignore[attr-defined]
    return office


def holder_ref(client: TestClient, resident_id: str) -> str:
    """The reference that names a holder in the API's paths (what POST /holders/lookup answers
    for a registered one; any ID number has one)."""
    return str(office(client).holder_id(resident_id))


def blocked_holder(client: TestClient) -> tuple[str, str]:
    """A holder (resident ID number) with a card (its number), pre-reported lost at the outlet
    today: a claim may be filed."""
    rid, card = resident_id(), card_number()
    card_office = office(client)
    card_office.issue_card(stories.issue(rid, card, region="110000"))
    card_office.pre_report_loss(stories.pre_report(rid, outlet=OUTLET))
    return rid, card


def today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def claim_body(invoice: str, total_fen: int = 500_000) -> dict[str, object]:
    return {
        "hospital_code": HOSPITAL,
        "treatment_date": today(),
        "invoice_number": invoice,
        "bill": {"total_fen": total_fen, "in_scope_fen": total_fen},
        "documents": ["invoice_original", "itemised_list", "prescription"],
    }
