"""The one line a clerk reads when the office refuses: each refusal's reason, word for word.

The CLI prints the reason as it is, so it is part of what the office does: it must name the
card, certificate, outlet, documents or ages involved, and never the whole ID number.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from domain.application import CardOffice
from domain.cardholder.events import Applicant, CardKind, IdentityDocument, ProxyScope
from domain.errors import DomainError
from domain.event import Actor, Channel, Role
from domain.identifiers import compose_resident_id, mask_resident_id
from domain.region_policy import ProxyDocument, ProxyGrounds
from samples.stories import replace_damaged
from tests.support import (
    AGENT_DOCS,
    Clock,
    activate,
    authorize,
    cancel,
    collect,
    head,
    issue,
    memory_office,
    pre_report,
    produce,
    report,
    resident_id,
)

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 2026-03-02 09:00 in Beijing


class Counter:
    """An office with a holder whose card is T-numbered and whose certificates are numbered
    in order, so that every reason can be written down in full."""

    def __init__(self) -> None:
        self.clock = Clock(START)
        numbers = iter(range(1, 100))
        self.office: CardOffice = memory_office(
            self.clock, certificate_numbers=lambda region: f"{region}-{next(numbers):010d}"
        )
        self.holder = resident_id()
        self.card = "R00000001"
        self.office.issue_card(issue(self.holder, number=self.card))

    def applied(self, **fields: Any) -> str:
        return self.office.report_loss_formally(report(self.holder, **fields)).certificate_number

    def produced(self, new_card: str = "R00000002") -> str:
        certificate = self.applied()
        self.office.record_production(produce(certificate, new_card))
        return certificate


def _reason(counter: Counter, call: Callable[[], Any]) -> str:
    before = head(counter.office)
    with pytest.raises(DomainError) as refused:
        call()
    assert head(counter.office) == before
    return str(refused.value)


AGENT = resident_id()


def pre_report_during_a_replacement(c: Counter) -> str:
    c.applied()
    return _reason(c, lambda: c.office.pre_report_loss(pre_report(c.holder)))


def pre_report_twice(c: Counter) -> str:
    """Another pre-report (not a repeat of the same one, which is "already recorded")."""
    c.office.pre_report_loss(pre_report(c.holder))
    return _reason(c, lambda: c.office.pre_report_loss(pre_report(c.holder, outlet="BJ-XC-009")))


def pre_report_a_cancelled_card(c: Counter) -> str:
    shaoguan = resident_id(region="440203")
    c.office.issue_card(issue(shaoguan, region="440200", number="R00000009"))
    reported = c.office.pre_report_loss(pre_report(shaoguan))
    c.office.lapse_pre_report(
        reported.originator_id, reported.originator_version, c.clock.advance(days=16)
    )
    return _reason(c, lambda: c.office.pre_report_loss(pre_report(shaoguan)))


def cancel_after_the_formal_report(c: Counter) -> str:
    c.office.pre_report_loss(pre_report(c.holder))
    c.applied()
    return _reason(c, lambda: c.office.cancel_pre_report(cancel(c.holder)))


def cancel_without_a_pre_report(c: Counter) -> str:
    return _reason(c, lambda: c.office.cancel_pre_report(cancel(c.holder)))


def the_holder_as_their_own_agent(c: Counter) -> str:
    return _reason(c, lambda: c.office.authorize_proxy(authorize(c.holder, c.holder)))


def an_agent_on_grounds_the_region_refuses(c: Counter) -> str:
    chengdu = resident_id(region="510104")
    c.office.issue_card(issue(chengdu, region="510100", number="R00000009"))
    return _reason(c, lambda: c.office.authorize_proxy(authorize(chengdu, AGENT)))


def an_agent_for_a_holder_not_yet_elderly(c: Counter) -> str:
    chengdu = compose_resident_id("510104", date(1956, 3, 3), 903)  # 70 tomorrow
    c.office.issue_card(issue(chengdu, region="510100", number="R00000009"))
    command = authorize(chengdu, AGENT, grounds=ProxyGrounds.ELDERLY)
    return _reason(c, lambda: c.office.authorize_proxy(command))


def proxy_documents_short(c: Counter) -> str:
    command = authorize(c.holder, AGENT, documents=AGENT_DOCS)
    return _reason(c, lambda: c.office.authorize_proxy(command))


def mobility_grounds_without_proof(c: Counter) -> str:
    wuxi = resident_id(region="320211")
    c.office.issue_card(issue(wuxi, region="320200", number="R00000009"))
    command = authorize(wuxi, AGENT, grounds=ProxyGrounds.LIMITED_MOBILITY, documents=AGENT_DOCS)
    return _reason(c, lambda: c.office.authorize_proxy(command))


def an_agent_entrusted_to_collect_applies(c: Counter) -> str:
    c.office.authorize_proxy(authorize(c.holder, AGENT, scope={ProxyScope.COLLECT}))
    return _reason(c, lambda: c.office.report_loss_formally(report(c.holder, agent=AGENT)))


def a_holder_in_person_with_an_agent_id(c: Counter) -> str:
    command = report(c.holder, agent_resident_id=AGENT)
    return _reason(c, lambda: c.office.report_loss_formally(command))


def an_agent_without_an_id(c: Counter) -> str:
    command = report(c.holder, applicant=Applicant.AGENT, documents=AGENT_DOCS)
    return _reason(c, lambda: c.office.report_loss_formally(command))


def identity_check_short(c: Counter) -> str:
    command = report(c.holder, documents=frozenset({ProxyDocument.HOLDER_ID_COPY}))
    return _reason(c, lambda: c.office.report_loss_formally(command))


def an_agent_without_the_holders_id_copy(c: Counter) -> str:
    c.office.authorize_proxy(authorize(c.holder, AGENT))
    documents = AGENT_DOCS - {ProxyDocument.HOLDER_ID_COPY}
    command = report(c.holder, agent=AGENT, documents=documents)
    return _reason(c, lambda: c.office.report_loss_formally(command))


def an_agent_without_their_own_id(c: Counter) -> str:
    c.office.authorize_proxy(authorize(c.holder, AGENT))
    documents = AGENT_DOCS - {ProxyDocument.AGENT_ID_ORIGINAL, ProxyDocument.AGENT_ID_COPY}
    command = report(c.holder, agent=AGENT, documents=documents)
    return _reason(c, lambda: c.office.report_loss_formally(command))


def a_medical_insurance_card_without_a_photo(c: Counter) -> str:
    other = resident_id()
    c.office.issue_card(issue(other, number="R00000009", kind=CardKind.MEDICAL_INSURANCE_IC))
    return _reason(c, lambda: c.office.report_loss_formally(report(other)))


def a_second_application(c: Counter) -> str:
    c.applied()
    command = report(c.holder, collection_outlet="BJ-XC-009")
    return _reason(c, lambda: c.office.report_loss_formally(command))


def production_for_an_unknown_certificate(c: Counter) -> str:
    return _reason(c, lambda: c.office.record_production(produce("110000-0000000077", "R00000002")))


def production_after_the_case_closed(c: Counter) -> str:
    certificate = c.produced()
    c.office.record_collection(collect(c.holder, certificate))
    c.office.activate_card(activate(c.holder, "R00000002"))
    return _reason(c, lambda: c.office.record_production(produce(certificate, "R00000003")))


def production_on_an_earlier_certificate(c: Counter) -> str:
    first = c.produced()
    c.office.record_collection(collect(c.holder, first))
    c.office.activate_card(activate(c.holder, "R00000002"))
    c.applied()
    return _reason(c, lambda: c.office.record_production(produce(first, "R00000003")))


def production_under_a_second_number(c: Counter) -> str:
    certificate = c.produced()
    return _reason(c, lambda: c.office.record_production(produce(certificate, "R00000003")))


def production_reusing_the_old_number(c: Counter) -> str:
    certificate = c.applied()
    return _reason(c, lambda: c.office.record_production(produce(certificate, c.card)))


def production_with_another_holders_number(c: Counter) -> str:
    c.office.issue_card(issue(resident_id(), number="R00000009"))
    certificate = c.applied()
    return _reason(c, lambda: c.office.record_production(produce(certificate, "R00000009")))


def collection_before_production(c: Counter) -> str:
    certificate = c.applied()
    return _reason(c, lambda: c.office.record_collection(collect(c.holder, certificate)))


def collection_twice(c: Counter) -> str:
    certificate = c.produced()
    c.clock.advance(days=20)
    c.office.record_collection(collect(c.holder, certificate))
    command = collect(c.holder, certificate).model_copy(
        update={"identity_document": IdentityDocument.HOUSEHOLD_REGISTER}
    )
    return _reason(c, lambda: c.office.record_collection(command))


def collection_at_another_outlet(c: Counter) -> str:
    certificate = c.produced()
    command = collect(c.holder, certificate, outlet="BJ-XC-009")
    return _reason(c, lambda: c.office.record_collection(command))


def collection_with_another_certificate(c: Counter) -> str:
    c.produced()
    command = collect(c.holder, "110000-0000000077")
    return _reason(c, lambda: c.office.record_collection(command))


def collection_without_a_case(c: Counter) -> str:
    return _reason(c, lambda: c.office.record_collection(collect(c.holder, "110000-0000000077")))


def collection_without_an_id_card_at_the_counter(c: Counter) -> str:
    certificate = c.produced()
    command = collect(c.holder, certificate).model_copy(
        update={"identity_document": IdentityDocument.ONLINE_IDENTITY}
    )
    return _reason(c, lambda: c.office.record_collection(command))


def collection_by_an_agent_entrusted_to_apply(c: Counter) -> str:
    c.office.authorize_proxy(authorize(c.holder, AGENT, scope={ProxyScope.APPLY}))
    certificate = c.produced()
    command = collect(c.holder, certificate, agent=AGENT)
    return _reason(c, lambda: c.office.record_collection(command))


def activating_another_card(c: Counter) -> str:
    return _reason(c, lambda: c.office.activate_card(activate(c.holder, "R00000008")))


def activating_a_card_in_use(c: Counter) -> str:
    return _reason(c, lambda: c.office.activate_card(activate(c.holder, c.card)))


def registering_twice(c: Counter) -> str:
    return _reason(c, lambda: c.office.issue_card(issue(c.holder, number="R00000009")))


def registering_a_taken_card_number(c: Counter) -> str:
    return _reason(c, lambda: c.office.issue_card(issue(resident_id(), number=c.card)))


def a_stranger(c: Counter) -> str:
    return _reason(c, lambda: c.office.pre_report_loss(pre_report(resident_id())))


def a_strangers_history(c: Counter) -> str:
    return _reason(c, lambda: c.office.history(resident_id()))


def an_auditor_pre_reporting(c: Counter) -> str:
    command = pre_report(c.holder, actor=Actor.staff(Role.AUDITOR, "audit-01"))
    return _reason(c, lambda: c.office.pre_report_loss(command))


def a_clerk_producing(c: Counter) -> str:
    certificate = c.applied()
    command = produce(certificate, "R00000002").model_copy(
        update={"actor": Actor.staff(Role.OUTLET_CLERK, "clerk-01")}
    )
    return _reason(c, lambda: c.office.record_production(command))


def a_holder_online_recorded_as_hotline(c: Counter) -> str:
    command = pre_report(
        c.holder,
        actor=Actor(role=Role.CARDHOLDER, channel=Channel.HOTLINE_12333),
        channel=Channel.ONLINE,
        outlet=None,
        identity_document=IdentityDocument.ONLINE_IDENTITY,
    )
    return _reason(c, lambda: c.office.pre_report_loss(command))


def a_clerk_recording_an_online_pre_report(c: Counter) -> str:
    command = pre_report(
        c.holder,
        channel=Channel.ONLINE,
        outlet=None,
        identity_document=IdentityDocument.ONLINE_IDENTITY,
    )
    return _reason(c, lambda: c.office.pre_report_loss(command))


def an_unknown_region(c: Counter) -> str:
    return _reason(c, lambda: c.office.issue_card(issue(resident_id(), region="990000")))


def a_damaged_card_while_a_loss_replacement_is_under_way(c: Counter) -> str:
    c.applied()
    return _reason(c, lambda: c.office.replace_damaged_card(replace_damaged(c.holder)))


def a_loss_report_while_a_damaged_card_is_exchanged(c: Counter) -> str:
    c.office.replace_damaged_card(replace_damaged(c.holder))
    return _reason(c, lambda: c.office.report_loss_formally(report(c.holder)))


def a_cancel_after_a_damaged_card_was_exchanged(c: Counter) -> str:
    c.office.replace_damaged_card(replace_damaged(c.holder))
    return _reason(c, lambda: c.office.cancel_pre_report(cancel(c.holder)))


def a_damaged_card_already_pre_reported_lost(c: Counter) -> str:
    c.office.pre_report_loss(pre_report(c.holder))
    return _reason(c, lambda: c.office.replace_damaged_card(replace_damaged(c.holder)))


def activating_a_card_not_yet_collected(c: Counter) -> str:
    c.produced()
    return _reason(c, lambda: c.office.activate_card(activate(c.holder, "R00000002")))


def an_unknown_outlet(c: Counter) -> str:
    return _reason(c, lambda: c.office.pre_report_loss(pre_report(c.holder, outlet="XX-NOPE-999")))


def an_unknown_collection_outlet(c: Counter) -> str:
    command = report(c.holder, collection_outlet="XX-NOPE-998")
    return _reason(c, lambda: c.office.report_loss_formally(command))


def a_request_id_reused_for_other_content(c: Counter) -> str:
    c.office.execute(pre_report(c.holder, request_id="req-7"))
    command = cancel(c.holder).model_copy(update={"request_id": "req-7"})
    return _reason(c, lambda: c.office.execute(command))


def a_lapse_dated_in_the_future(c: Counter) -> str:
    reported = c.office.pre_report_loss(pre_report(c.holder))
    later = datetime(2026, 3, 2, 1, 5, 1, tzinfo=UTC)  # beyond five minutes of clock skew
    return _reason(c, lambda: c.office.lapse_pre_report(reported.originator_id, 2, later))


def a_lapse_dated_before_the_previous_event(c: Counter) -> str:
    c.clock.advance(hours=1)
    reported = c.office.pre_report_loss(pre_report(c.holder))
    return _reason(c, lambda: c.office.lapse_pre_report(reported.originator_id, 2, START))


def a_card_issued_tomorrow(c: Counter) -> str:
    command = issue(resident_id()).model_copy(update={"issued_on": date(2026, 3, 3)})
    return _reason(c, lambda: c.office.issue_card(command))


HOLDER = "<holder>"  # stands for the masked ID number in the table below
REASONS: list[tuple[Callable[[Counter], str], str]] = [
    (
        pre_report_during_a_replacement,
        "card R00000001 was formally reported lost on 2026-03-02 and its replacement "
        "(certificate 110000-0000000001) is under way",
    ),
    (pre_report_twice, "card R00000001 is already pre-reported lost; settlement is suspended"),
    (
        pre_report_a_cancelled_card,
        "card R00000009 is cancelled, not active; only an active card can be pre-reported lost",
    ),
    (
        cancel_after_the_formal_report,
        "card R00000001 was formally reported lost on 2026-03-02; a formal report is "
        "irreversible and cannot be cancelled",
    ),
    (
        a_cancel_after_a_damaged_card_was_exchanged,
        "card R00000001 was surrendered as damaged on 2026-03-02, never reported lost: there is "
        "no loss pre-report to cancel",
    ),
    (cancel_without_a_pre_report, "card R00000001 has no open loss pre-report to cancel"),
    (the_holder_as_their_own_agent, "the agent must be someone other than the cardholder"),
    (
        an_agent_on_grounds_the_region_refuses,
        "region 510100 (Chengdu) accepts agents only on these grounds: elderly, "
        "limited_mobility; got other",
    ),
    (
        an_agent_for_a_holder_not_yet_elderly,
        "the holder is 69; region 510100 counts as elderly from 70",
    ),
    (
        proxy_documents_short,
        "a proxy authorization in Beijing needs: power_of_attorney",
    ),
    (mobility_grounds_without_proof, "a proxy authorization in Wuxi needs: mobility_proof"),
    (
        an_agent_entrusted_to_collect_applies,
        f"agent {mask_resident_id(AGENT)} holds no proxy authorization to apply for this "
        "cardholder",
    ),
    (
        a_holder_in_person_with_an_agent_id,
        "an agent ID number was given but the holder acts in person",
    ),
    (an_agent_without_an_id, "an agent acts: the agent's resident ID number is required"),
    (identity_check_short, "the identity check needs: holder_id_original"),
    (an_agent_without_the_holders_id_copy, "the identity check needs: holder_id_copy"),
    (
        an_agent_without_their_own_id,
        "the identity check needs: agent_id_copy, agent_id_original",
    ),
    (
        a_medical_insurance_card_without_a_photo,
        "card R00000009 is a medical-insurance IC card: converting it needs a one-inch colour "
        "photo (the 2nd-generation ID card photo)",
    ),
    (
        a_second_application,
        "card R00000001 was formally reported lost on 2026-03-02 and its replacement "
        "(certificate 110000-0000000001) is under way",
    ),
    (
        production_for_an_unknown_certificate,
        "no replacement application carries certificate 110000-0000000077",
    ),
    (production_after_the_case_closed, "the cardholder has no open replacement application"),
    (
        production_on_an_earlier_certificate,
        "collection certificate 110000-0000000001 does not match the open application",
    ),
    (
        production_under_a_second_number,
        "the card for certificate 110000-0000000001 was already produced as R00000002",
    ),
    (
        production_reusing_the_old_number,
        "card number R00000001 was used before; a replacement gets a new number",
    ),
    (
        production_with_another_holders_number,
        "card number R00000009 already belongs to a cardholder",
    ),
    (
        collection_before_production,
        "the card for certificate 110000-0000000001 has not been produced yet (due 2026-03-23)",
    ),
    (
        collection_twice,
        "the card for certificate 110000-0000000001 was already collected on 2026-03-22",
    ),
    (
        collection_at_another_outlet,
        "the card was dispatched to outlet BJ-HD-003, not BJ-XC-009",
    ),
    (
        collection_with_another_certificate,
        "collection certificate 110000-0000000077 does not match the open application",
    ),
    (collection_without_a_case, "the cardholder has no open replacement application"),
    (
        collection_without_an_id_card_at_the_counter,
        "collecting a card needs an ID card or household register shown at the counter",
    ),
    (
        collection_by_an_agent_entrusted_to_apply,
        f"agent {mask_resident_id(AGENT)} holds no proxy authorization to collect for this "
        "cardholder",
    ),
    (activating_another_card, "card R00000008 is not the holder's current card"),
    (
        activating_a_card_in_use,
        "card R00000001 is normal; only a collected, sealed card can be activated",
    ),
    (registering_twice, f"cardholder {HOLDER} is already registered"),
    (registering_a_taken_card_number, "card number R00000001 already belongs to a cardholder"),
    (a_stranger, "no cardholder with that resident ID number is registered"),
    (a_strangers_history, "no cardholder with that resident ID number is registered"),
    (
        an_auditor_pre_reporting,
        "a auditor may not pre report loss; allowed roles: cardholder, outlet_clerk",
    ),
    (
        a_clerk_producing,
        "a outlet_clerk may not record production; allowed roles: production_centre",
    ),
    (
        a_holder_online_recorded_as_hotline,
        "a cardholder's pre-report comes through the actor's own channel",
    ),
    (
        a_clerk_recording_an_online_pre_report,
        "an outlet clerk records pre-reports made at the outlet",
    ),
    (an_unknown_region, "unknown region 990000: no region policy is configured for it"),
    (
        a_damaged_card_while_a_loss_replacement_is_under_way,
        "card R00000001 was formally reported lost on 2026-03-02 and its replacement "
        "(certificate 110000-0000000001) is under way",
    ),
    (
        a_loss_report_while_a_damaged_card_is_exchanged,
        "card R00000001 was surrendered as damaged on 2026-03-02 and its replacement "
        "(certificate 110000-0000000001) is under way",
    ),
    (
        a_damaged_card_already_pre_reported_lost,
        "card R00000001 is temporarily_lost; only an active card is exchanged as damaged (a "
        "card reported lost is replaced after a formal report)",
    ),
    (
        activating_a_card_not_yet_collected,
        "card R00000002 has not been collected yet; it is activated after collection",
    ),
    (an_unknown_outlet, "unknown outlet 'XX-NOPE-999': no such outlet is configured"),
    (an_unknown_collection_outlet, "unknown outlet 'XX-NOPE-998': no such outlet is configured"),
    (
        a_request_id_reused_for_other_content,
        "request id 'req-7' was already used for a different PreReportLoss command; use a new "
        "id for a new request",
    ),
    (
        a_lapse_dated_in_the_future,
        "instant 2026-03-02 09:05:01+08:00 is in the future (the clock says "
        "2026-03-02 09:00:00+08:00)",
    ),
    (
        a_lapse_dated_before_the_previous_event,
        "2026-03-02 09:00:00+08:00 is before the holder's previous event "
        "(2026-03-02 10:00:00+08:00); events are recorded in order",
    ),
    (a_card_issued_tomorrow, "a card cannot be issued in the future (2026-03-03 > 2026-03-02)"),
]


@pytest.mark.parametrize(
    ("scenario", "expected"), REASONS, ids=[scenario.__name__ for scenario, _ in REASONS]
)
def test_each_refusal_says_why_in_full(scenario: Callable[[Counter], str], expected: str):
    counter = Counter()
    reason = scenario(counter)
    assert reason == expected.replace(HOLDER, mask_resident_id(counter.holder))
    assert counter.holder not in reason, "a reason never shows a whole ID number"
