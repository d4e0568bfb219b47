"""What settlement systems are told for each card event: which card, what status, and why."""

from __future__ import annotations

from domain.settlement import SettlementChange, SettlementReason, SettlementStatus
from domain.settlement import settlement_changes as changes
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

BLOCKED, ACTIVE, CANCELLED = (
    SettlementStatus.BLOCKED,
    SettlementStatus.ACTIVE,
    SettlementStatus.CANCELLED,
)


def test_a_replacement_tells_settlement_when_each_card_may_be_used():
    office = memory_office()
    holder, agent, new_card = resident_id(), resident_id(), card_number()
    issued = office.issue_card(issue(holder))
    old = issued.card_number
    reported = office.pre_report_loss(pre_report(holder))
    authorized = office.authorize_proxy(authorize(holder, agent))
    application = office.report_loss_formally(report(holder))
    produced = office.record_production(produce(application.certificate_number, new_card))
    collected = office.record_collection(collect(holder, application.certificate_number))
    activated = office.activate_card(activate(holder, new_card))

    assert changes(issued) == (SettlementChange(old, ACTIVE, SettlementReason.CARD_ISSUED),)
    assert changes(reported) == (
        SettlementChange(old, BLOCKED, SettlementReason.LOSS_PRE_REPORTED),
    )
    assert changes(authorized) == ()
    assert changes(application) == (
        SettlementChange(old, CANCELLED, SettlementReason.LOSS_FORMALLY_REPORTED),
    )
    assert produced is not None
    assert changes(produced) == (), "a produced card is not in anyone's hands yet"
    assert changes(collected) == (
        SettlementChange(new_card, BLOCKED, SettlementReason.NEW_CARD_SEALED),
    )
    assert changes(activated) == (
        SettlementChange(new_card, ACTIVE, SettlementReason.NEW_CARD_ACTIVATED),
    )


def test_a_cancelled_pre_report_unblocks_the_card():
    office = memory_office()
    holder = resident_id()
    card = office.issue_card(issue(holder)).card_number
    office.pre_report_loss(pre_report(holder))
    cancelled = office.cancel_pre_report(cancel(holder))
    assert changes(cancelled) == (
        SettlementChange(card, ACTIVE, SettlementReason.PRE_REPORT_CANCELLED),
    )


def test_a_lapse_unblocks_or_cancels_the_card_as_its_region_says():
    clock = Clock()
    office = memory_office(clock)
    shanghai, shaoguan = resident_id(region="310104"), resident_id(region="440203")
    unblocks = office.issue_card(issue(shanghai, region="310000")).card_number
    cancels = office.issue_card(issue(shaoguan, region="440200")).card_number
    first = office.pre_report_loss(pre_report(shanghai))
    second = office.pre_report_loss(pre_report(shaoguan))
    later = clock.advance(days=30)
    unblocked = office.lapse_pre_report(first.originator_id, first.originator_version, later)
    cancelled = office.lapse_pre_report(second.originator_id, second.originator_version, later)
    assert unblocked is not None
    assert cancelled is not None
    assert changes(unblocked) == (
        SettlementChange(unblocks, ACTIVE, SettlementReason.PRE_REPORT_LAPSED),
    )
    assert changes(cancelled) == (
        SettlementChange(cancels, CANCELLED, SettlementReason.PRE_REPORT_LAPSED),
    )
