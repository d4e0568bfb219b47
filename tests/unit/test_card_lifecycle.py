"""The replacement story, and every rule of DESIGN.md 2 attacked in turn.

Each refused command must name its reason and leave the store exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from domain.application import CardOffice
from domain.cardholder.errors import (
    AgentNotAuthorized,
    AlreadyProduced,
    CardAlreadyCollected,
    CardAlreadySuspended,
    CardNotActive,
    CardNotCollected,
    CardNotHeld,
    CardNotProduced,
    CardNotSealed,
    CardNumberInUse,
    CertificateMismatch,
    DocumentsMissing,
    FormalReportIrreversible,
    HolderAlreadyRegistered,
    HolderNotFound,
    InvalidCommand,
    NoOpenApplication,
    NoOpenPreReport,
    PhotoRequired,
    ProxyNotAllowed,
    ReplacementCaseOpen,
    WrongCollectionOutlet,
)
from domain.cardholder.events import CardKind, FeeWaiver, IdentityDocument, ProxyScope
from domain.cardholder.state import CardStatus, project
from domain.errors import DomainError, InvalidInput
from domain.event import Actor, Role
from domain.identifiers import compose_resident_id
from domain.region_policy import ProxyDocument, ProxyGrounds
from tests.support import (
    AGENT_DOCS,
    BEIJING_PROXY_DOCS,
    Clock,
    activate,
    authorize,
    cancel,
    card_number,
    collect,
    elderly_resident_id,
    head,
    issue,
    memory_office,
    pre_report,
    pre_report_online,
    produce,
    report,
    resident_id,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def office(clock: Clock) -> CardOffice:
    return memory_office(clock)


def refused(office: CardOffice, error: type[DomainError], call: Callable[[], Any]) -> DomainError:
    """Run a command that must be refused: the typed error, and not one event written."""
    before = head(office)
    with pytest.raises(error) as caught:
        call()
    assert head(office) == before, "a refused command wrote to the store"
    assert str(caught.value), "a refusal must say why"
    return caught.value


def test_a_full_replacement_by_proxy_from_pre_report_to_activation(office, clock):
    holder, agent = resident_id(), resident_id()
    issued = office.issue_card(issue(holder))
    clock.advance(hours=1)
    office.pre_report_loss(pre_report(holder))
    assert office.holder(holder).settlement_suspended
    office.authorize_proxy(authorize(holder, agent))
    clock.advance(days=1)
    application = office.report_loss_formally(report(holder, agent=agent))
    assert application.fee_fen == 2000
    assert application.production_due_on == date(2026, 3, 24)  # 15 working days in Beijing
    new_card = card_number()
    clock.advance(days=20)
    office.record_production(produce(application.certificate_number, new_card))
    office.record_collection(collect(holder, application.certificate_number, agent=agent))
    state = office.holder(holder)
    assert state.card.number == new_card
    assert state.card.status is CardStatus.SEALED
    assert state.settlement_suspended, "a sealed card cannot settle until activated"
    office.activate_card(activate(holder, new_card))

    state = office.holder(holder)
    assert state.card.status is CardStatus.NORMAL
    assert not state.settlement_suspended
    assert state.case is None
    assert state.proxies == ()
    assert [c.number for c in state.retired_cards] == [issued.card_number]
    assert len(state.suspensions) == 1
    assert state.suspensions[0].ended_by == "new_card_activated"
    assert [type(e).__name__ for e in office.history(holder)] == [
        "CardIssued",
        "LossPreReported",
        "ProxyAuthorized",
        "LossFormallyReported",
        "CardProduced",
        "CardCollected",
        "CardActivated",
    ]
    assert office.holder_of_card(new_card) == state.id
    assert office.holder_of_card(issued.card_number) == state.id


def test_a_formal_report_without_pre_report_suspends_settlement(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.report_loss_formally(report(holder))
    assert office.holder(holder).settlement_suspended


def test_cancelling_a_pre_report_resumes_settlement(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.pre_report_loss(pre_report(holder))
    office.cancel_pre_report(cancel(holder))
    state = office.holder(holder)
    assert state.card.status is CardStatus.NORMAL
    assert not state.settlement_suspended
    assert state.suspensions[0].ended_by == "pre_report_cancelled"


# ---- one active card per holder; one stream per holder; numbers unique ---------------


def test_a_holder_is_registered_once(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    refused(office, HolderAlreadyRegistered, lambda: office.issue_card(issue(holder)))


def test_a_card_number_belongs_to_one_holder(office):
    number = card_number()
    office.issue_card(issue(resident_id(), number=number))
    refused(office, CardNumberInUse, lambda: office.issue_card(issue(resident_id(), number=number)))


def test_a_produced_card_cannot_reuse_another_holders_number(office):
    taken = card_number()
    office.issue_card(issue(resident_id(), number=taken))
    holder = resident_id()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    refused(
        office,
        CardNumberInUse,
        lambda: office.record_production(produce(application.certificate_number, taken)),
    )


def test_a_replacement_never_reuses_the_holders_old_number(office):
    holder = resident_id()
    issued = office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    refused(
        office,
        InvalidCommand,
        lambda: office.record_production(
            produce(application.certificate_number, issued.card_number)
        ),
    )


def test_an_unknown_region_is_refused_before_anything_is_written(office):
    refused(office, InvalidInput, lambda: office.issue_card(issue(resident_id(), region="990000")))


def test_commands_for_an_unknown_holder_are_refused(office):
    refused(office, HolderNotFound, lambda: office.pre_report_loss(pre_report(resident_id())))


# ---- pre-report and cancellation -----------------------------------------------------


def test_a_pre_report_needs_a_card_not_already_suspended(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.pre_report_loss(pre_report(holder))
    # Not a repeat of the same pre-report (that is "already recorded"): another one, online.
    refused(office, CardAlreadySuspended, lambda: office.pre_report_loss(pre_report_online(holder)))


def test_a_pre_report_needs_an_active_card_not_a_cancelled_one(office, clock):
    holder = resident_id(region="440203")  # Shaoguan: a lapsed pre-report cancels the card
    office.issue_card(issue(holder, region="440200"))
    reported = office.pre_report_loss(pre_report(holder))
    lapsed = office.lapse_pre_report(
        reported.originator_id, reported.originator_version, clock.advance(days=15, seconds=1)
    )
    assert lapsed is not None
    assert office.holder(holder).card.status is CardStatus.CANCELLED
    refused(office, CardNotActive, lambda: office.pre_report_loss(pre_report(holder)))


def test_a_sealed_card_cannot_be_pre_reported_before_activation(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    office.record_production(produce(application.certificate_number))
    office.record_collection(collect(holder, application.certificate_number))
    refused(office, ReplacementCaseOpen, lambda: office.pre_report_loss(pre_report(holder)))


def test_a_pre_report_is_refused_while_a_replacement_is_under_way(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.report_loss_formally(report(holder))
    refused(office, ReplacementCaseOpen, lambda: office.pre_report_loss(pre_report(holder)))


def test_cancelling_needs_an_open_pre_report(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    refused(office, NoOpenPreReport, lambda: office.cancel_pre_report(cancel(holder)))


def test_cancelling_after_the_formal_report_is_refused_as_irreversible(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.pre_report_loss(pre_report(holder))
    office.report_loss_formally(report(holder))
    error = refused(
        office, FormalReportIrreversible, lambda: office.cancel_pre_report(cancel(holder))
    )
    assert "irreversible" in str(error)


# ---- formal report: identity, photo, fee, one open case ---------------------------------


def test_a_formal_report_needs_the_identity_check(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    refused(
        office,
        DocumentsMissing,
        lambda: office.report_loss_formally(
            report(holder, documents=frozenset({ProxyDocument.HOLDER_ID_ORIGINAL}))
        ),
    )


def test_at_most_one_open_replacement_case(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.report_loss_formally(report(holder))
    refused(
        office,
        ReplacementCaseOpen,
        lambda: office.report_loss_formally(report(holder, collection_outlet="BJ-XC-009")),
    )


def test_converting_a_medical_insurance_ic_card_needs_a_photo(office):
    holder = resident_id()
    office.issue_card(issue(holder, kind=CardKind.MEDICAL_INSURANCE_IC))
    refused(office, PhotoRequired, lambda: office.report_loss_formally(report(holder)))
    event = office.report_loss_formally(report(holder, photo=True))
    assert event.converting_medical_ic


def test_the_fee_follows_the_region_and_is_waived_for_defects(office):
    jiangxi, beijing = resident_id(region="360102"), resident_id()
    office.issue_card(issue(jiangxi, region="360000"))
    office.issue_card(issue(beijing))
    assert office.report_loss_formally(report(jiangxi)).fee_fen == 3200
    waived = office.report_loss_formally(report(beijing, fee_waiver=FeeWaiver.WARRANTY_DEFECT))
    assert waived.fee_fen == 0


def test_production_is_due_after_the_regions_working_days(office, clock):
    holder = resident_id(region="360102")
    office.issue_card(issue(holder, region="360000"))
    event = office.report_loss_formally(report(holder))  # 2026-03-02, Jiangxi: 30 working days
    assert event.production_due_on == date(2026, 4, 14)  # 4-4..4-6 Qingming off


# ---- proxies ------------------------------------------------------------------------------


def test_an_agent_cannot_apply_without_authorization(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    refused(
        office,
        AgentNotAuthorized,
        lambda: office.report_loss_formally(report(holder, agent=resident_id())),
    )


def test_an_agent_authorized_to_collect_only_cannot_apply(office):
    holder, agent = resident_id(), resident_id()
    office.issue_card(issue(holder))
    office.authorize_proxy(authorize(holder, agent, scope={ProxyScope.COLLECT}))
    refused(
        office, AgentNotAuthorized, lambda: office.report_loss_formally(report(holder, agent=agent))
    )


def test_an_agent_cannot_collect_without_authorization(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    office.record_production(produce(application.certificate_number))
    refused(
        office,
        AgentNotAuthorized,
        lambda: office.record_collection(
            collect(holder, application.certificate_number, agent=resident_id())
        ),
    )


def test_proxy_documents_follow_the_region(office):
    beijing = resident_id()
    office.issue_card(issue(beijing))
    refused(
        office,
        DocumentsMissing,
        lambda: office.authorize_proxy(authorize(beijing, resident_id(), documents=AGENT_DOCS)),
    )
    office.authorize_proxy(authorize(beijing, resident_id(), documents=BEIJING_PROXY_DOCS))


def test_a_region_that_limits_proxies_to_the_elderly_refuses_others(office):
    young, old = resident_id(region="510104"), elderly_resident_id()
    office.issue_card(issue(young, region="510100"))
    office.issue_card(issue(old, region="510100"))
    refused(
        office, ProxyNotAllowed, lambda: office.authorize_proxy(authorize(young, resident_id()))
    )
    refused(
        office,
        ProxyNotAllowed,
        lambda: office.authorize_proxy(
            authorize(young, resident_id(), grounds=ProxyGrounds.ELDERLY)
        ),
    )
    office.authorize_proxy(authorize(old, resident_id(), grounds=ProxyGrounds.ELDERLY))


def test_the_holder_cannot_be_their_own_agent(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    refused(office, InvalidCommand, lambda: office.authorize_proxy(authorize(holder, holder)))


# ---- production, collection, activation ----------------------------------------------------


def test_collecting_before_production_is_refused(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    error = refused(
        office,
        CardNotProduced,
        lambda: office.record_collection(collect(holder, application.certificate_number)),
    )
    assert "not been produced" in str(error)


def test_collection_needs_the_matching_certificate(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    office.record_production(produce(application.certificate_number))
    refused(
        office,
        CertificateMismatch,
        lambda: office.record_collection(collect(holder, "110000-0000000001")),
    )


def test_collection_happens_at_the_outlet_the_card_went_to(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    office.record_production(produce(application.certificate_number))
    refused(
        office,
        WrongCollectionOutlet,
        lambda: office.record_collection(
            collect(holder, application.certificate_number, outlet="BJ-XC-009")
        ),
    )


def test_a_card_is_collected_once(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    office.record_production(produce(application.certificate_number))
    office.record_collection(collect(holder, application.certificate_number))
    again = collect(holder, application.certificate_number).model_copy(
        update={"identity_document": IdentityDocument.HOUSEHOLD_REGISTER}
    )
    error = refused(office, CardAlreadyCollected, lambda: office.record_collection(again))
    assert "already collected" in str(error)


def test_production_needs_an_open_application(office):
    refused(
        office, NoOpenApplication, lambda: office.record_production(produce("110000-1234567890"))
    )


def test_production_retries_are_idempotent_and_a_different_number_is_refused(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    new_card = card_number()
    assert office.record_production(produce(application.certificate_number, new_card))
    before = head(office)
    assert office.record_production(produce(application.certificate_number, new_card)) is None
    assert head(office) == before
    refused(
        office,
        AlreadyProduced,
        lambda: office.record_production(produce(application.certificate_number)),
    )


def test_only_the_sealed_new_card_can_be_activated(office):
    holder = resident_id()
    issued = office.issue_card(issue(holder))
    refused(
        office, CardNotSealed, lambda: office.activate_card(activate(holder, issued.card_number))
    )
    refused(office, CardNotHeld, lambda: office.activate_card(activate(holder, card_number())))
    application = office.report_loss_formally(report(holder))
    produced = office.record_production(produce(application.certificate_number))
    assert produced is not None
    error = refused(
        office,
        CardNotCollected,
        lambda: office.activate_card(activate(holder, produced.new_card_number)),
    )
    assert "not been collected" in str(error)


# ---- authority -------------------------------------------------------------------------------


def test_only_the_production_centre_records_production(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    application = office.report_loss_formally(report(holder))
    command = produce(application.certificate_number).model_copy(
        update={"actor": Actor.staff(Role.OUTLET_CLERK, "clerk-01")}
    )
    refused(office, InvalidCommand, lambda: office.record_production(command))


def test_an_auditor_cannot_change_anything(office):
    holder = resident_id()
    office.issue_card(issue(holder))
    command = pre_report(holder).model_copy(update={"actor": Actor.staff(Role.AUDITOR, "aud-1")})
    refused(office, InvalidCommand, lambda: office.pre_report_loss(command))


def test_a_history_replayed_from_scratch_equals_the_cached_state(office, clock):
    holder = resident_id()
    office.issue_card(issue(holder))
    office.pre_report_loss(pre_report(holder))
    clock.advance(days=2)
    office.report_loss_formally(report(holder))
    # The office keeps states in its cache and brings them forward with each new event; the
    # state it answers with must be the one a replay from the first event gives.
    assert office.repository.cache is not None
    office.repository.cache.get(office.holder_id(holder))  # KeyError if it were not cached
    cached = office.holder(holder)
    assert cached.version == 3
    assert project(None, office.history(holder)) == cached


# ---- business dates are China's, not UTC's -----------------------------------------------------


def test_a_holder_is_elderly_from_their_birthday_in_china_even_before_utc_reaches_it(office, clock):
    # 2026-05-17 00:30 in Beijing is still 2026-05-16 in UTC.
    clock.now = datetime(2026, 5, 16, 16, 30, tzinfo=UTC)
    # Composed here: the shared counter behind resident_id() shifts birth dates in long runs.
    seventy_today = compose_resident_id("510104", date(1956, 5, 17), 901)
    office.issue_card(issue(seventy_today, region="510100"))
    office.authorize_proxy(authorize(seventy_today, resident_id(), grounds=ProxyGrounds.ELDERLY))
    seventy_tomorrow = compose_resident_id("510104", date(1956, 5, 18), 902)
    office.issue_card(issue(seventy_tomorrow, region="510100"))
    refused(
        office,
        ProxyNotAllowed,
        lambda: office.authorize_proxy(
            authorize(seventy_tomorrow, resident_id(), grounds=ProxyGrounds.ELDERLY)
        ),
    )


def test_an_instant_issue_card_is_due_on_the_day_of_the_application_in_china(office, clock):
    clock.now = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 2026-03-03 01:00 in Shanghai
    holder = resident_id(region="310104")
    office.issue_card(issue(holder, region="310000"))
    event = office.report_loss_formally(report(holder, collection_outlet="SH-XUHUI-01"))
    assert event.production_due_on == date(2026, 3, 3)
