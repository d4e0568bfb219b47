"""Claims and the relay: claim events share the store's log; their public form (status, amounts,
dates; no medical detail) goes to reimbursement-events, keyed by claim id, while card events
still complete on card-events and the invoice reservations and benefit ledgers stay inside."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from contract.envelope import parse_card_event, parse_claim_event
from domain.cardholder.events import CARDHOLDER_EVENTS
from samples.claims import approve, pay, submit
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics, relay_for, topics
from service.settings import Settings
from tests.kafka_support import read_topic
from tests.support import Clock, cancel, issue, pre_report, resident_id

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def test_the_relay_publishes_claims_on_their_own_topic_in_public_form(
    settings: Settings, kafka_bootstrap: str
):
    settings = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap})
    ensure_topics(settings)
    clock = Clock(datetime(2026, 3, 2, 10, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC))
    with open_back_office(settings, clock=clock) as backoffice:
        office = backoffice.office
        rid = resident_id()
        office.issue_card(issue(rid))
        office.pre_report_loss(pre_report(rid))
        claim = office.submit_claim(submit(rid, date(2026, 3, 2))).originator_id
        office.cancel_pre_report(cancel(rid))
        office.approve_claim(approve(claim))
        office.pay_claim(pay(claim))  # the store's last events are claim events
        relay = relay_for(backoffice)
        try:
            relay.publish_pending()
            assert relay.status().lag == 0
        finally:
            relay.close()
        names = topics(settings)
        card_records = read_topic(settings.bootstrap_servers, names.card_events)
        claim_records = read_topic(settings.bootstrap_servers, names.reimbursement_events)
    published = [parse_card_event(r.value).event_type for r in card_records]
    assert published == ["CardIssued", "LossPreReported", "LossPreReportCancelled"]
    assert set(published) <= {c.__name__ for c in CARDHOLDER_EVENTS}
    claims = [parse_claim_event(r.value) for r in claim_records]
    assert [c.event_type for c in claims] == [
        "ReimbursementClaimSubmitted",
        "ReimbursementClaimApproved",
        "ReimbursementClaimPaid",
    ]
    assert {r.key for r in claim_records} == {str(claim).encode()}
    for record in claim_records:
        for detail in (b"hospital_code", b"invoice_number", b"treatment_date", b"bill"):
            assert detail not in record.value
    assert claims[-1].payload.model_dump()["status"] == "paid"
