"""The relay's fast wire encoding is exactly the contract's encoding, for every event type."""

from __future__ import annotations

from datetime import UTC, datetime

from consumers.messages import (
    card_event_wire,
    encode,
    envelope_of,
    parse_card_event,
    settlement_message,
    settlement_wire,
)
from domain.cardholder.events import CARDHOLDER_EVENTS, CardKind
from domain.event import DomainEvent
from domain.settlement import settlement_changes
from tests.support import (
    Clock,
    activate,
    authorize,
    cancel,
    card_number,
    collect,
    issue,
    memory_office,
    pre_report,
    produce,
    report,
    resident_id,
)


def every_event_type() -> list[DomainEvent]:
    # Microseconds on the clock: the datetime formatting must agree on them too.
    clock = Clock(datetime(2026, 3, 2, 1, 0, 0, 123456, tzinfo=UTC))
    office = memory_office(clock)
    holder, agent, other = resident_id(), resident_id(), resident_id(region="310104")
    office.issue_card(issue(holder, kind=CardKind.MEDICAL_INSURANCE_IC))
    office.pre_report_loss(pre_report(holder))
    office.cancel_pre_report(cancel(holder))
    office.authorize_proxy(authorize(holder, agent))
    application = office.report_loss_formally(report(holder, agent=agent, photo=True))
    new_card = card_number()
    office.record_production(produce(application.certificate_number, new_card))
    office.record_collection(collect(holder, application.certificate_number, agent=agent))
    office.activate_card(activate(holder, new_card))
    office.issue_card(issue(other, region="310000"))
    reported = office.pre_report_loss(pre_report(other))
    office.lapse_pre_report(
        reported.originator_id, reported.originator_version, clock.advance(days=6, microseconds=7)
    )
    events = office.history(holder) + office.history(other)
    assert {type(e) for e in events} == set(CARDHOLDER_EVENTS)
    return events


def test_the_wire_value_is_the_envelope_models_encoding():
    for position, event in enumerate(every_event_type(), start=1):
        value, headers = card_event_wire(event, position)
        assert value == encode(envelope_of(event, position)), type(event).__name__
        assert parse_card_event(value).payload == event
        facts = dict(headers)
        assert facts["event_type"] == type(event).__name__.encode()
        assert facts["position"] == str(position).encode()


def test_the_settlement_wire_value_is_the_status_models_encoding():
    checked = 0
    for position, event in enumerate(every_event_type(), start=1):
        for change in settlement_changes(event):
            wire = settlement_wire(change, event, position)
            assert wire == encode(settlement_message(change, event, position))
            checked += 1
    assert checked >= 7
