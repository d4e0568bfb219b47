"""One replacement written down in full: every fact each event records and the holder's whole
state after each step, field by field (what auditors and read models rely on)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.cardholder.events import (
    Applicant,
    CardKind,
    FeeWaiver,
    IdentityDocument,
    LapseResult,
    PreReportCancelReason,
    ProxyScope,
)
from domain.cardholder.state import (
    Card,
    Cardholder,
    CardStatus,
    PreReport,
    ProxyAuthorization,
    ReplacementCase,
    SuspensionWindow,
    project,
)
from domain.event import Role
from domain.references import card_number_stream_id
from domain.region_policy import LapseOutcome, ProxyDocument, ProxyGrounds
from tests.support import (
    AGENT_DOCS,
    Clock,
    activate,
    authorize,
    cancel,
    collect,
    issue,
    memory_office,
    pre_report,
    produce,
    report,
    resident_id,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SHANGHAI_DOCS = AGENT_DOCS | {ProxyDocument.RELATIONSHIP_PROOF}
INSTANT = "SH-XUHUI-01"


def facts(event: Any) -> dict[str, Any]:
    return event.model_dump(exclude={"event_id", "originator_id"})


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_a_replacement_by_an_agent_in_shanghai_recorded_in_full():
    clock = Clock(T0)
    office = memory_office(clock, certificate_numbers=lambda region: f"{region}-0000000042")
    holder, agent = resident_id(region="310104"), resident_id()
    old_card, new_card = "S00000001", "S00000002"
    clerk = {"role": Role.OUTLET_CLERK, "staff_id": "clerk-01", "channel": None}
    base = {"schema_version": 1, "actor": clerk, "outlet": "BJ-DC-001"}

    issued = office.issue_card(
        issue(holder, region="310000", kind=CardKind.MEDICAL_INSURANCE_IC, number=old_card)
    )
    assert facts(issued) == base | {
        "originator_version": 1,
        "occurred_at": at(0),
        "resident_id": holder,
        "holder_name": "张三",
        "region_code": "310000",
        "card_number": old_card,
        "card_kind": CardKind.MEDICAL_INSURANCE_IC,
        "issued_on": date(2020, 1, 1),
        "source": "issued",
    }
    state = Cardholder(
        id=office.holder_id(holder),
        version=1,
        resident_id=holder,
        name="张三",
        region_code="310000",
        card=Card(old_card, CardKind.MEDICAL_INSURANCE_IC, CardStatus.NORMAL, at(0)),
    )
    assert office.holder(holder) == replace(state, last_event=issued)

    clock.now = at(1)
    reported = office.pre_report_loss(
        pre_report(holder, identity_document=IdentityDocument.HOUSEHOLD_REGISTER)
    )
    lapses_at = at(1) + timedelta(days=5)
    assert facts(reported) == base | {
        "originator_version": 2,
        "occurred_at": at(1),
        "card_number": old_card,
        "channel": "outlet",
        "identity_document": IdentityDocument.HOUSEHOLD_REGISTER,
        "lapses_at": lapses_at,
        "lapse_outcome": LapseOutcome.UNBLOCK,
    }
    state = Cardholder(
        **(
            vars_of(state)
            | {
                "version": 2,
                "card": Card(
                    old_card, CardKind.MEDICAL_INSURANCE_IC, CardStatus.TEMPORARILY_LOST, at(1)
                ),
                "pre_report": PreReport(2, old_card, at(1), lapses_at, LapseOutcome.UNBLOCK),
                "suspensions": (SuspensionWindow(old_card, at(1)),),
            }
        )
    )
    assert office.holder(holder) == replace(state, last_event=reported)

    clock.now = at(2)
    authorized = office.authorize_proxy(
        authorize(holder, agent, documents=SHANGHAI_DOCS, relationship="son")
    )
    assert facts(authorized) == base | {
        "originator_version": 3,
        "occurred_at": at(2),
        "agent_resident_id": agent,
        "agent_name": "李四",
        "scope": {ProxyScope.APPLY, ProxyScope.COLLECT},
        "grounds": ProxyGrounds.OTHER,
        "documents": SHANGHAI_DOCS,
        "relationship": "son",
    }
    proxy = ProxyAuthorization(
        3, agent, "李四", frozenset({ProxyScope.APPLY, ProxyScope.COLLECT}), at(2)
    )
    state = Cardholder(**(vars_of(state) | {"version": 3, "proxies": (proxy,)}))
    assert office.holder(holder) == replace(state, last_event=authorized)

    clock.now = at(26)
    application = office.report_loss_formally(
        report(
            holder,
            agent=agent,
            photo=True,
            fee_waiver=FeeWaiver.DATA_ERROR_NOT_BY_HOLDER,
            collection_outlet=INSTANT,
        )
    )
    assert facts(application) == base | {
        "originator_version": 4,
        "occurred_at": at(26),
        "card_number": old_card,
        "applicant": Applicant.AGENT,
        "agent_resident_id": agent,
        "identity_documents": AGENT_DOCS,
        "collection_outlet": INSTANT,
        "certificate_number": "310000-0000000042",
        "fee_fen": 0,
        "fee_waiver": FeeWaiver.DATA_ERROR_NOT_BY_HOLDER,
        "converting_medical_ic": True,
        "photo_provided": True,
        "production_due_on": date(2026, 3, 3),
        "production_due_basis": "official_calendar",
    }
    case = ReplacementCase(
        opened_version=4,
        old_card_number=old_card,
        applicant=Applicant.AGENT,
        collection_outlet=INSTANT,
        certificate_number="310000-0000000042",
        applied_at=at(26),
        production_due_on=date(2026, 3, 3),
    )
    state = Cardholder(
        **(
            vars_of(state)
            | {
                "version": 4,
                "card": Card(
                    old_card, CardKind.MEDICAL_INSURANCE_IC, CardStatus.FORMALLY_LOST, at(26)
                ),
                "pre_report": None,
                "case": case,
            }
        )
    )
    assert office.holder(holder) == replace(state, last_event=application)

    clock.now = at(27)
    produced = office.record_production(
        produce("310000-0000000042", new_card).model_copy(update={"batch_id": "B-2026-03-03"})
    )
    assert produced is not None
    assert facts(produced) == {
        "schema_version": 1,
        "actor": {"role": Role.PRODUCTION_CENTRE, "staff_id": "centre-01", "channel": None},
        "outlet": None,
        "originator_version": 5,
        "occurred_at": at(27),
        "certificate_number": "310000-0000000042",
        "new_card_number": new_card,
        "dispatched_to": INSTANT,
        "batch_id": "B-2026-03-03",
    }
    case = ReplacementCase(**(vars_of(case) | {"new_card_number": new_card, "produced_at": at(27)}))
    state = Cardholder(**(vars_of(state) | {"version": 5, "case": case}))
    assert office.holder(holder) == replace(state, last_event=produced)

    clock.now = at(28)
    collected = office.record_collection(
        collect(holder, "310000-0000000042", agent=agent, outlet=INSTANT).model_copy(
            update={"identity_document": IdentityDocument.HOUSEHOLD_REGISTER}
        )
    )
    assert facts(collected) == base | {
        "outlet": INSTANT,
        "originator_version": 6,
        "occurred_at": at(28),
        "card_number": new_card,
        "certificate_number": "310000-0000000042",
        "collected_by": Applicant.AGENT,
        "agent_resident_id": agent,
        "identity_document": IdentityDocument.HOUSEHOLD_REGISTER,
    }
    old = Card(old_card, CardKind.MEDICAL_INSURANCE_IC, CardStatus.FORMALLY_LOST, at(26))
    case = ReplacementCase(
        **(vars_of(case) | {"collected_at": at(28), "collected_by": Applicant.AGENT})
    )
    state = Cardholder(
        **(
            vars_of(state)
            | {
                "version": 6,
                # The medical-insurance IC card is replaced by a social security card.
                "card": Card(new_card, CardKind.SOCIAL_SECURITY_CARD, CardStatus.SEALED, at(28)),
                "retired_cards": (old,),
                "case": case,
            }
        )
    )
    assert office.holder(holder) == replace(state, last_event=collected)

    clock.now = at(29)
    activated = office.activate_card(activate(holder, new_card, outlet=INSTANT))
    assert facts(activated) == base | {
        "outlet": INSTANT,
        "originator_version": 7,
        "occurred_at": at(29),
        "card_number": new_card,
    }
    state = Cardholder(
        **(
            vars_of(state)
            | {
                "version": 7,
                "card": Card(new_card, CardKind.SOCIAL_SECURITY_CARD, CardStatus.NORMAL, at(29)),
                "case": None,
                "proxies": (),
                "suspensions": (SuspensionWindow(old_card, at(1), at(29), "new_card_activated"),),
                "completed_cases": 1,
            }
        )
    )
    assert office.holder(holder) == replace(state, last_event=activated)


def test_cancellations_and_lapses_recorded_in_full():
    clock = Clock(T0)
    office = memory_office(clock)
    beijing, shaoguan = resident_id(), resident_id(region="440203")
    office.issue_card(issue(beijing, number="S00000011"))
    office.issue_card(issue(shaoguan, region="440200", number="S00000012"))
    clock.now = at(1)
    office.pre_report_loss(pre_report(beijing))
    clock.now = at(2)
    cancelled = office.cancel_pre_report(
        pre_report_cancel(beijing, "reported_in_error", outlet="BJ-XC-009")
    )
    assert facts(cancelled) == {
        "schema_version": 1,
        "actor": {"role": Role.OUTLET_CLERK, "staff_id": "clerk-01", "channel": None},
        "outlet": "BJ-XC-009",
        "originator_version": 3,
        "occurred_at": at(2),
        "card_number": "S00000011",
        "pre_report_version": 2,
        "reason": "reported_in_error",
    }
    state = office.holder(beijing)
    assert state.card == Card("S00000011", CardKind.SOCIAL_SECURITY_CARD, CardStatus.NORMAL, at(2))
    assert state.suspensions == (
        SuspensionWindow("S00000011", at(1), at(2), "pre_report_cancelled"),
    )

    reported = office.pre_report_loss(pre_report(shaoguan))
    clock.now = deadline = at(2) + timedelta(days=15)
    lapsed = office.lapse_pre_report(shaoguan_id := reported.originator_id, 2, deadline)
    assert lapsed is not None
    assert facts(lapsed) == {
        "schema_version": 1,
        "actor": {"role": Role.SYSTEM, "staff_id": None, "channel": None},
        "outlet": None,
        "originator_version": 3,
        "occurred_at": deadline,
        "card_number": "S00000012",
        "pre_report_version": 2,
        "deadline": deadline,
        "result": LapseResult.CANCELLED,
    }
    state = office.holder_by_id(shaoguan_id)
    assert state.card == Card(
        "S00000012", CardKind.SOCIAL_SECURITY_CARD, CardStatus.CANCELLED, deadline
    )
    assert state.suspensions == (SuspensionWindow("S00000012", at(2)),), "still suspended"

    clock.now = second = deadline + timedelta(hours=1)
    office.pre_report_loss(pre_report(beijing))
    state = office.holder(beijing)
    assert state.suspensions == (
        SuspensionWindow("S00000011", at(1), at(2), "pre_report_cancelled"),
        SuspensionWindow("S00000011", second),
    )
    clock.now = third = second + timedelta(hours=1)
    office.cancel_pre_report(cancel(beijing))  # closes the second window, keeps the first
    assert office.holder(beijing).suspensions == (
        SuspensionWindow("S00000011", at(1), at(2), "pre_report_cancelled"),
        SuspensionWindow("S00000011", second, third, "pre_report_cancelled"),
    )
    office.pre_report_loss(pre_report(beijing))
    state = office.holder(beijing)
    office.report_loss_formally(report(beijing))  # already suspended: no new window
    assert office.holder(beijing).suspensions == state.suspensions


def test_a_lapse_that_unblocks_and_a_formal_report_without_pre_report_recorded_in_full():
    clock = Clock(T0)
    office = memory_office(clock)
    shanghai, beijing = resident_id(region="310104"), resident_id()
    office.issue_card(issue(shanghai, region="310000", number="S00000021"))
    office.issue_card(issue(beijing, number="S00000022"))
    reported = office.pre_report_loss(pre_report(shanghai))
    clock.now = deadline = T0 + timedelta(days=5)
    office.lapse_pre_report(reported.originator_id, 2, deadline)
    state = office.holder(shanghai)
    assert state.card == Card(
        "S00000021", CardKind.SOCIAL_SECURITY_CARD, CardStatus.NORMAL, deadline
    )
    assert state.suspensions == (SuspensionWindow("S00000021", T0, deadline, "pre_report_lapsed"),)
    clock.now = later = deadline + timedelta(hours=3)
    office.report_loss_formally(report(beijing))  # settlement stops at the formal report
    assert office.holder(beijing).suspensions == (SuspensionWindow("S00000022", later),)


def vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def pre_report_cancel(rid: str, reason: str, outlet: str) -> Any:
    return cancel(rid, outlet=outlet).model_copy(update={"reason": PreReportCancelReason(reason)})


def test_a_stream_that_does_not_start_with_a_card_is_refused_by_name():
    office = memory_office()
    holder = resident_id()
    office.issue_card(issue(holder))
    issued, reported = office.history(holder)[0], office.pre_report_loss(pre_report(holder))
    with pytest.raises(ValueError, match=r"^LossPreReported cannot start a cardholder stream$"):
        project(None, [reported])
    reservation = next(iter(office.events.get(card_number_stream_id(issued.card_number))))
    with pytest.raises(ValueError, match=r"^unknown cardholder event CardNumberReserved$"):
        project(None, [issued, reservation])
