"""Holder stories: valid identities, the commands of each step, and whole replacements.

One module for the demo, the benchmarks and the tests, so a change to a command's shape is made
once. Every builder takes the few facts that vary (who, which card, which outlet) and fills the
rest with what an outlet in Beijing would record.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from domain.application import CardOffice
from domain.cardholder.commands import (
    ActivateCard,
    AuthorizeProxy,
    CancelPreReport,
    EraseHolder,
    IssueCard,
    PreReportLoss,
    RecordCollection,
    RecordProduction,
    ReplaceDamagedCard,
    ReportLossFormally,
)
from domain.cardholder.events import (
    Applicant,
    CardKind,
    DamageCause,
    ErasureReason,
    IdentityDocument,
    ProxyScope,
)
from domain.event import Actor, Channel, DomainEvent, Role
from domain.identifiers import compose_resident_id
from domain.region_policy import ProxyDocument, ProxyGrounds

CLERK = Actor.staff(Role.OUTLET_CLERK, "clerk-01")
CENTRE = Actor.staff(Role.PRODUCTION_CENTRE, "centre-01")
AUDITOR = Actor.staff(Role.AUDITOR, "auditor-01")
BEIJING = "110000"
OUTLET = "BJ-DC-001"
PICKUP = "BJ-HD-003"

HOLDER_DOCS = frozenset({ProxyDocument.HOLDER_ID_ORIGINAL, ProxyDocument.HOLDER_ID_COPY})
AGENT_DOCS = HOLDER_DOCS | {ProxyDocument.AGENT_ID_ORIGINAL, ProxyDocument.AGENT_ID_COPY}
BEIJING_PROXY_DOCS = AGENT_DOCS | {ProxyDocument.POWER_OF_ATTORNEY}
BOTH_SCOPES = frozenset({ProxyScope.APPLY, ProxyScope.COLLECT})


class Identities:
    """Valid, distinct resident ID numbers and card numbers, from counters.

    Distinct within one instance: give each store (or each run sharing a store) its own district
    or card prefix.
    """

    def __init__(
        self, district: str = "110105", card_prefix: str = "T", born: date = date(1980, 5, 17)
    ) -> None:
        self._district = district
        self._card_prefix = card_prefix
        self._born = born
        self._people = itertools.count()
        self._cards = itertools.count()

    def resident_id(self, district: str | None = None, born: date | None = None) -> str:
        n = next(self._people)
        first_day = born or self._born
        return compose_resident_id(
            district or self._district, first_day + timedelta(days=n // 999), n % 999 + 1
        )

    def card_number(self) -> str:
        return f"{self._card_prefix}{next(self._cards):08d}"


# ---- one command per step -------------------------------------------------------------------


def issue(
    rid: str,
    card: str,
    region: str = BEIJING,
    kind: CardKind = CardKind.SOCIAL_SECURITY_CARD,
    **overrides: Any,
) -> IssueCard:
    fields: dict[str, Any] = {
        "resident_id": rid,
        "actor": CLERK,
        "outlet": OUTLET,
        "holder_name": "张三",
        "region_code": region,
        "card_number": card,
        "card_kind": kind,
        "issued_on": date(2020, 1, 1),
    }
    return IssueCard(**(fields | overrides))


def pre_report(rid: str, outlet: str = OUTLET, **overrides: Any) -> PreReportLoss:
    fields: dict[str, Any] = {
        "resident_id": rid,
        "actor": CLERK,
        "channel": Channel.OUTLET,
        "outlet": outlet,
        "identity_document": IdentityDocument.RESIDENT_ID_CARD,
    }
    return PreReportLoss(**(fields | overrides))


def pre_report_online(rid: str) -> PreReportLoss:
    return PreReportLoss(
        resident_id=rid,
        actor=Actor(role=Role.CARDHOLDER, channel=Channel.ONLINE),
        channel=Channel.ONLINE,
        identity_document=IdentityDocument.ONLINE_IDENTITY,
    )


def cancel(rid: str, outlet: str = OUTLET) -> CancelPreReport:
    return CancelPreReport(resident_id=rid, actor=CLERK, outlet=outlet)


def authorize(
    rid: str,
    agent: str,
    scope: frozenset[ProxyScope] | set[ProxyScope] | None = None,
    grounds: ProxyGrounds = ProxyGrounds.OTHER,
    documents: frozenset[ProxyDocument] = BEIJING_PROXY_DOCS,
    **overrides: Any,
) -> AuthorizeProxy:
    fields: dict[str, Any] = {
        "resident_id": rid,
        "actor": CLERK,
        "outlet": OUTLET,
        "agent_resident_id": agent,
        "agent_name": "李四",
        "scope": frozenset(scope or BOTH_SCOPES),
        "grounds": grounds,
        "documents": documents,
    }
    return AuthorizeProxy(**(fields | overrides))


def report(
    rid: str,
    agent: str | None = None,
    photo: bool = False,
    documents: frozenset[ProxyDocument] | None = None,
    **overrides: Any,
) -> ReportLossFormally:
    fields: dict[str, Any] = {
        "resident_id": rid,
        "actor": CLERK,
        "outlet": OUTLET,
        "applicant": Applicant.AGENT if agent else Applicant.HOLDER,
        "agent_resident_id": agent,
        "identity_documents": documents
        if documents is not None
        else (AGENT_DOCS if agent else HOLDER_DOCS),
        "collection_outlet": PICKUP,
        "photo_provided": photo,
    }
    return ReportLossFormally(**(fields | overrides))


def replace_damaged(
    rid: str, cause: DamageCause = DamageCause.CARD_DEFECT, **overrides: Any
) -> ReplaceDamagedCard:
    fields: dict[str, Any] = {
        "resident_id": rid,
        "actor": CLERK,
        "outlet": OUTLET,
        "cause": cause,
        "identity_documents": HOLDER_DOCS,
        "collection_outlet": PICKUP,
    }
    return ReplaceDamagedCard(**(fields | overrides))


def produce(certificate: str, new_card: str, **overrides: Any) -> RecordProduction:
    fields: dict[str, Any] = {
        "actor": CENTRE,
        "certificate_number": certificate,
        "new_card_number": new_card,
    }
    return RecordProduction(**(fields | overrides))


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


def activate(rid: str, card: str, outlet: str = PICKUP) -> ActivateCard:
    return ActivateCard(resident_id=rid, actor=CLERK, outlet=outlet, card_number=card)


def erase(rid: str, reason: ErasureReason = ErasureReason.HOLDER_REQUEST) -> EraseHolder:
    return EraseHolder(resident_id=rid, actor=AUDITOR, reason=reason)


# ---- whole stories ------------------------------------------------------------------------------


def replacement(
    office: CardOffice,
    ids: Identities,
    rid: str,
    agent: str | None = None,
    photo: bool = False,
    between_steps: Callable[[], object] = lambda: None,
) -> Iterator[DomainEvent]:
    """Formal report, production, collection and activation, by the holder or an agent
    (authorized first). Yields every recorded event; ``between_steps`` runs before each step
    (a clock that moves, say)."""
    if agent is not None:
        between_steps()
        yield office.authorize_proxy(authorize(rid, agent))
    between_steps()
    application = office.report_loss_formally(report(rid, agent=agent, photo=photo))
    yield application
    new_card = ids.card_number()
    between_steps()
    produced = office.record_production(produce(application.certificate_number, new_card))
    assert produced is not None
    yield produced
    between_steps()
    yield office.record_collection(collect(rid, application.certificate_number, agent=agent))
    between_steps()
    yield office.activate_card(activate(rid, new_card))


def population_story(office: CardOffice, ids: Identities, index: int) -> Iterator[DomainEvent]:
    """One holder's history, one command per step. Of every ten holders: six pre-report and
    cancel, two pre-report online and leave it, two go through a full replacement (one of them by
    proxy). Yields each recorded card event; the caller may stop between commands."""
    rid = ids.resident_id()
    yield office.issue_card(issue(rid, ids.card_number()))
    kind = index % 10
    if kind < 6:
        yield office.pre_report_loss(pre_report(rid))
        yield office.cancel_pre_report(cancel(rid))
        return
    if kind < 8:
        yield office.pre_report_loss(pre_report_online(rid))
        return
    yield office.pre_report_loss(pre_report(rid))
    agent = ids.resident_id() if kind == 9 else None
    yield from replacement(office, ids, rid, agent=agent)


def every_kind_of_event(
    office: CardOffice, ids: Identities, advance: Callable[..., datetime]
) -> list[str]:
    """Every event type once at least: a replacement by proxy of a medical-insurance IC card, a
    cancelled pre-report, a Shanghai pre-report that lapses (``advance(**timedelta)`` moves
    the office's clock and returns the new time), a damaged card exchanged and a holder's
    erasure (recorded; destroying the key is the composition root's part). Returns the five
    holders."""
    holder, agent, other, lapsing, damaged, erased = (ids.resident_id() for _ in range(6))
    office.issue_card(issue(holder, ids.card_number(), kind=CardKind.MEDICAL_INSURANCE_IC))
    office.pre_report_loss(pre_report(holder))
    for _ in replacement(office, ids, holder, agent=agent, photo=True):
        pass
    office.issue_card(issue(other, ids.card_number()))
    office.pre_report_loss(pre_report(other))
    office.cancel_pre_report(cancel(other))
    office.issue_card(issue(lapsing, ids.card_number(), region="310000"))
    reported = office.pre_report_loss(pre_report(lapsing))
    lapsed = office.lapse_pre_report(
        reported.originator_id, reported.originator_version, advance(days=6, microseconds=7)
    )
    assert lapsed is not None
    office.issue_card(issue(damaged, ids.card_number()))
    application = office.replace_damaged_card(replace_damaged(damaged))
    new_card = ids.card_number()
    office.record_production(produce(application.certificate_number, new_card))
    office.record_collection(collect(damaged, application.certificate_number))
    office.activate_card(activate(damaged, new_card))
    office.issue_card(issue(erased, ids.card_number()))
    office.erase_holder(erase(erased))
    return [holder, other, lapsing, damaged, erased]
