"""Builders the tests share: valid identities, actors, commands and an in-memory card office."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.application import CardOffice
from domain.cardholder.commands import (
    ActivateCard,
    AuthorizeProxy,
    CancelPreReport,
    IssueCard,
    PreReportLoss,
    RecordCollection,
    RecordProduction,
    ReportLossFormally,
)
from domain.cardholder.events import Applicant, CardKind, IdentityDocument, ProxyScope
from domain.event import Actor, Channel, Role
from domain.identifiers import compose_resident_id
from domain.region_policy import ProxyDocument, ProxyGrounds
from service.persistence import MAPPER_TOPIC, TRANSCODER_TOPIC

CLERK = Actor.staff(Role.OUTLET_CLERK, "clerk-01")
CENTRE = Actor.staff(Role.PRODUCTION_CENTRE, "centre-01")
OUTLET = "BJ-DC-001"
PICKUP = "BJ-HD-003"
HOLDER_ID_KEY = "test-holder-id-key-000000"

_sequence = itertools.count(1)


def resident_id(region: str = "110105", born: date = date(1980, 5, 17)) -> str:
    """A fresh valid resident ID number (unique within the test run)."""
    n = next(_sequence)
    return compose_resident_id(region, born + timedelta(days=n // 999), n % 999 + 1)


def card_number() -> str:
    return f"T{next(_sequence):08d}"


def elderly_resident_id() -> str:
    return resident_id(born=date(1940, 1, 1))


HOLDER_DOCS = frozenset({ProxyDocument.HOLDER_ID_ORIGINAL, ProxyDocument.HOLDER_ID_COPY})
AGENT_DOCS = HOLDER_DOCS | {ProxyDocument.AGENT_ID_ORIGINAL, ProxyDocument.AGENT_ID_COPY}
BEIJING_PROXY_DOCS = AGENT_DOCS | {ProxyDocument.POWER_OF_ATTORNEY}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def memory_office(clock: Clock | None = None, **kwargs: Any) -> CardOffice:
    """The card office on the library's in-memory store: unit tests, milliseconds."""
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.popo",
        "MAPPER_TOPIC": MAPPER_TOPIC,
        "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
        "HOLDER_ID_KEY": HOLDER_ID_KEY,
    }
    return CardOffice(env=env, clock=clock or Clock(), **kwargs)


def head(office: CardOffice) -> int:
    return office.recorder.max_notification_id() or 0


def issue(
    rid: str,
    region: str = "110000",
    kind: CardKind = CardKind.SOCIAL_SECURITY_CARD,
    number: str | None = None,
) -> IssueCard:
    return IssueCard(
        resident_id=rid,
        actor=CLERK,
        outlet=OUTLET,
        holder_name="张三",
        region_code=region,
        card_number=number or card_number(),
        card_kind=kind,
        issued_on=date(2020, 1, 1),
    )


def pre_report(rid: str) -> PreReportLoss:
    return PreReportLoss(
        resident_id=rid,
        actor=CLERK,
        channel=Channel.OUTLET,
        outlet=OUTLET,
        identity_document=IdentityDocument.RESIDENT_ID_CARD,
    )


def pre_report_online(rid: str) -> PreReportLoss:
    return PreReportLoss(
        resident_id=rid,
        actor=Actor(role=Role.CARDHOLDER, channel=Channel.ONLINE),
        channel=Channel.ONLINE,
        identity_document=IdentityDocument.ONLINE_IDENTITY,
    )


def cancel(rid: str) -> CancelPreReport:
    return CancelPreReport(resident_id=rid, actor=CLERK, outlet=OUTLET)


def authorize(
    rid: str,
    agent: str,
    scope: set[ProxyScope] | None = None,
    grounds: ProxyGrounds = ProxyGrounds.OTHER,
    documents: frozenset[ProxyDocument] = BEIJING_PROXY_DOCS,
) -> AuthorizeProxy:
    return AuthorizeProxy(
        resident_id=rid,
        actor=CLERK,
        outlet=OUTLET,
        agent_resident_id=agent,
        agent_name="李四",
        scope=frozenset(scope or {ProxyScope.APPLY, ProxyScope.COLLECT}),
        grounds=grounds,
        documents=documents,
    )


def report(
    rid: str,
    agent: str | None = None,
    photo: bool = False,
    documents: frozenset[ProxyDocument] | None = None,
    **kwargs: Any,
) -> ReportLossFormally:
    return ReportLossFormally(
        resident_id=rid,
        actor=CLERK,
        outlet=OUTLET,
        applicant=Applicant.AGENT if agent else Applicant.HOLDER,
        agent_resident_id=agent,
        identity_documents=documents
        if documents is not None
        else (AGENT_DOCS if agent else HOLDER_DOCS),
        collection_outlet=PICKUP,
        photo_provided=photo,
        **kwargs,
    )


def produce(certificate: str, new_card: str | None = None) -> RecordProduction:
    return RecordProduction(
        actor=CENTRE, certificate_number=certificate, new_card_number=new_card or card_number()
    )


def collect(
    rid: str, certificate: str, agent: str | None = None, outlet: str = PICKUP
) -> RecordCollection:
    return RecordCollection(
        resident_id=rid,
        actor=CLERK,
        outlet=outlet,
        certificate_number=certificate,
        collected_by=Applicant.AGENT if agent else Applicant.HOLDER,
        agent_resident_id=agent,
    )


def activate(rid: str, card: str) -> ActivateCard:
    return ActivateCard(resident_id=rid, actor=CLERK, outlet=PICKUP, card_number=card)


def every_kind_of_event(office: CardOffice, clock: Clock) -> list[str]:
    """Every event type once at least: a replacement by proxy of a medical-insurance IC card, a
    cancelled pre-report, and a Shanghai pre-report that lapses. Returns the three holders."""
    holder, agent, other, lapsing = resident_id(), resident_id(), resident_id(), resident_id()
    office.issue_card(issue(holder, kind=CardKind.MEDICAL_INSURANCE_IC))
    office.pre_report_loss(pre_report(holder))
    office.authorize_proxy(authorize(holder, agent))
    application = office.report_loss_formally(report(holder, agent=agent, photo=True))
    new_card = card_number()
    office.record_production(produce(application.certificate_number, new_card))
    office.record_collection(collect(holder, application.certificate_number, agent=agent))
    office.activate_card(activate(holder, new_card))
    office.issue_card(issue(other))
    office.pre_report_loss(pre_report(other))
    office.cancel_pre_report(cancel(other))
    office.issue_card(issue(lapsing, region="310000"))
    reported = office.pre_report_loss(pre_report(lapsing))
    lapsed = office.lapse_pre_report(
        reported.originator_id, reported.originator_version, clock.advance(days=6, microseconds=7)
    )
    assert lapsed is not None
    return [holder, other, lapsing]
