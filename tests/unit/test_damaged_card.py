"""Issue 12, item 6: a damaged card (损坏换卡) is exchanged without a loss report.

The holder surrenders it and applies; the fee is waived when the card itself failed; the same
production, collection and activation steps follow; the damaged card settles until surrendered,
the new card is sealed on collection and active on activation."""

from __future__ import annotations

import pytest

from domain.cardholder.errors import (
    AgentNotAuthorized,
    CardNotActive,
    DocumentsMissing,
    ReplacementCaseOpen,
)
from domain.cardholder.events import CardKind, DamageCause
from domain.cardholder.state import CardStatus, CaseKind
from domain.settlement import SettlementReason, SettlementStatus, settlement_changes
from samples.stories import replace_damaged
from tests.support import (
    HOLDER_DOCS,
    Clock,
    activate,
    authorize,
    collect,
    head,
    issue,
    memory_office,
    pre_report,
    produce,
    report,
    resident_id,
)


@pytest.fixture
def office():
    return memory_office(Clock())


def test_a_damaged_card_is_exchanged_through_production_collection_and_activation(office):
    holder = resident_id()
    old = office.issue_card(issue(holder))
    application = office.replace_damaged_card(replace_damaged(holder))
    state = office.holder(holder)
    assert state.case is not None
    assert state.case.kind is CaseKind.DAMAGE
    assert state.card.status is CardStatus.SURRENDERED
    produced = office.record_production(produce(application.certificate_number))
    assert produced is not None
    office.record_collection(collect(holder, application.certificate_number))
    assert office.holder(holder).card.status is CardStatus.SEALED
    office.activate_card(activate(holder, produced.new_card_number))
    final = office.holder(holder)
    assert final.card.number == produced.new_card_number
    assert final.card.status is CardStatus.NORMAL
    assert final.case is None
    assert [c.number for c in final.retired_cards] == [old.card_number]
    assert not final.settlement_suspended


def test_the_fee_is_waived_only_when_the_card_itself_failed(office):
    worn, defective, data = resident_id(), resident_id(), resident_id()
    for holder in (worn, defective, data):
        office.issue_card(issue(holder))
    fee = office.replace_damaged_card(replace_damaged(worn, DamageCause.WEAR_OR_ACCIDENT))
    assert fee.fee_fen == 2000  # Beijing's replacement fee
    assert office.replace_damaged_card(replace_damaged(defective)).fee_fen == 0
    waived = office.replace_damaged_card(
        replace_damaged(data, DamageCause.DATA_ERROR_NOT_BY_HOLDER)
    )
    assert waived.fee_fen == 0


def test_jiangxi_charges_its_own_fee(office):
    holder = resident_id(region="360102")
    office.issue_card(issue(holder, region="360000"))
    event = office.replace_damaged_card(replace_damaged(holder, DamageCause.WEAR_OR_ACCIDENT))
    assert event.fee_fen == 3200


def test_settlement_the_damaged_card_settles_until_surrendered_then_the_new_card_on_activation(
    office,
):
    holder = resident_id()
    old = office.issue_card(issue(holder))
    application = office.replace_damaged_card(replace_damaged(holder))
    produced = office.record_production(produce(application.certificate_number))
    assert produced is not None
    collected = office.record_collection(collect(holder, application.certificate_number))
    activated = office.activate_card(activate(holder, produced.new_card_number))
    changes = [
        (c.card_number, c.status, c.reason)
        for event in (application, collected, activated)
        for c in settlement_changes(event)
    ]
    assert changes == [
        (
            old.card_number,
            SettlementStatus.CANCELLED,
            SettlementReason.DAMAGED_CARD_SURRENDERED,
        ),
        (produced.new_card_number, SettlementStatus.BLOCKED, SettlementReason.NEW_CARD_SEALED),
        (produced.new_card_number, SettlementStatus.ACTIVE, SettlementReason.NEW_CARD_ACTIVATED),
    ]
    window = office.holder(holder).suspensions[-1]
    assert window.started_at == application.occurred_at
    assert window.ended_at == activated.occurred_at


def test_a_card_reported_lost_takes_the_loss_path(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.pre_report_loss(pre_report(holder))
    before = head(office)
    with pytest.raises(CardNotActive, match="formal report"):
        office.replace_damaged_card(replace_damaged(holder))
    assert head(office) == before


def test_one_open_case_at_a_time_whichever_its_kind(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.replace_damaged_card(replace_damaged(holder))
    with pytest.raises(ReplacementCaseOpen, match="surrendered as damaged"):
        office.report_loss_formally(report(holder))
    with pytest.raises(ReplacementCaseOpen):
        office.replace_damaged_card(replace_damaged(holder, DamageCause.WEAR_OR_ACCIDENT))


def test_the_identity_check_and_the_agents_authority_apply(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    with pytest.raises(DocumentsMissing):
        office.replace_damaged_card(replace_damaged(holder, identity_documents=frozenset()))
    agent = resident_id()
    with pytest.raises(AgentNotAuthorized):
        office.replace_damaged_card(
            replace_damaged(
                holder,
                applicant="agent",
                agent_resident_id=agent,
                identity_documents=frozenset(
                    {"holder_id_original", "holder_id_copy", "agent_id_original", "agent_id_copy"}
                ),
            )
        )


def test_an_old_medical_insurance_ic_card_needs_a_photo_and_is_converted(office):
    holder = resident_id()
    office.issue_card(issue(holder, kind=CardKind.MEDICAL_INSURANCE_IC))
    event = office.replace_damaged_card(replace_damaged(holder, photo_provided=True))
    assert event.converting_medical_ic


def test_a_region_may_set_its_own_fee_for_damaged_cards():
    from domain.region_policy import RegionPolicies

    policies = RegionPolicies.from_json(
        '{"regions": [{"region_code": "110000", "name": "Beijing", "lapse_days": 10, '
        '"lapse_outcome": "unblock", "production_working_days": 15, '
        '"replacement_fee_fen": 2000, "damaged_card_fee_fen": 1000}]}'
    )
    office = memory_office(Clock(), policies=policies)
    holder = resident_id()
    office.issue_card(issue(holder))
    event = office.replace_damaged_card(replace_damaged(holder, DamageCause.WEAR_OR_ACCIDENT))
    assert event.fee_fen == 1000


def test_an_authorized_agent_shows_their_own_id_card_too(office):
    holder, agent = resident_id(), resident_id()
    office.issue_card(issue(holder))
    office.authorize_proxy(authorize(holder, agent))
    by_agent = {"applicant": "agent", "agent_resident_id": agent}
    with pytest.raises(DocumentsMissing) as caught:
        office.replace_damaged_card(replace_damaged(holder, **by_agent))
    assert str(caught.value) == "the identity check needs: agent_id_copy, agent_id_original"
    both = HOLDER_DOCS | {"agent_id_original", "agent_id_copy"}
    applied = office.replace_damaged_card(
        replace_damaged(holder, identity_documents=both, **by_agent)
    )
    assert (applied.applicant, applied.agent_resident_id) == ("agent", agent)
