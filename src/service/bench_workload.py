"""The bench's workload: valid identities and realistic holder stories, written through the card
office (setup for ``sscard bench relay``, not measured)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta

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
from domain.cardholder.events import Applicant, IdentityDocument, ProxyScope
from domain.event import Actor, Channel, DomainEvent, Role
from domain.identifiers import compose_resident_id
from domain.region_policy import ProxyDocument, ProxyGrounds

Say = Callable[[str], None]

_REGION = "110000"  # Beijing
_OUTLET = "BJ-DC-001"
_PICKUP = "BJ-HD-003"
_CLERK = Actor.staff(Role.OUTLET_CLERK, "bench-clerk")
_CENTRE = Actor.staff(Role.PRODUCTION_CENTRE, "bench-centre")
_HOLDER_DOCS = frozenset({ProxyDocument.HOLDER_ID_ORIGINAL, ProxyDocument.HOLDER_ID_COPY})
_AGENT_DOCS = _HOLDER_DOCS | {ProxyDocument.AGENT_ID_ORIGINAL, ProxyDocument.AGENT_ID_COPY}
_PROXY_DOCS = _AGENT_DOCS | {ProxyDocument.POWER_OF_ATTORNEY}

_PROGRESS_EVERY = 5_000


class Identities:
    """Valid, distinct resident ID numbers and card numbers (the store is fresh)."""

    def __init__(self, district: str, card_prefix: str) -> None:
        self._district = district
        self._card_prefix = card_prefix
        self._people = itertools.count()
        self._cards = itertools.count()

    def resident_id(self) -> str:
        n = next(self._people)
        born = date(1950, 1, 1) + timedelta(days=n // 999)
        return compose_resident_id(self._district, born, n % 999 + 1)

    def card_number(self) -> str:
        return f"{self._card_prefix}{next(self._cards):08d}"


def _issue(rid: str, card: str) -> IssueCard:
    return IssueCard(
        resident_id=rid,
        actor=_CLERK,
        outlet=_OUTLET,
        holder_name="张三",
        region_code=_REGION,
        card_number=card,
        issued_on=date(2020, 1, 1),
    )


def pre_report(rid: str, online: bool = False) -> PreReportLoss:
    if online:
        return PreReportLoss(
            resident_id=rid,
            actor=Actor(role=Role.CARDHOLDER, channel=Channel.ONLINE),
            channel=Channel.ONLINE,
            identity_document=IdentityDocument.ONLINE_IDENTITY,
        )
    return PreReportLoss(
        resident_id=rid,
        actor=_CLERK,
        channel=Channel.OUTLET,
        outlet=_OUTLET,
        identity_document=IdentityDocument.RESIDENT_ID_CARD,
    )


def _story(office: CardOffice, ids: Identities, index: int) -> Iterator[DomainEvent]:
    """One holder's history, one command per step. Of every ten holders: six pre-report and
    cancel, two pre-report online and leave it, two go through a full replacement (one of them by
    proxy). Yields each recorded card event; the caller may stop between commands."""
    rid = ids.resident_id()
    yield office.issue_card(_issue(rid, ids.card_number()))
    kind = index % 10
    if kind < 6:
        yield office.pre_report_loss(pre_report(rid))
        yield office.cancel_pre_report(
            CancelPreReport(resident_id=rid, actor=_CLERK, outlet=_OUTLET)
        )
        return
    if kind < 8:
        yield office.pre_report_loss(pre_report(rid, online=True))
        return
    yield office.pre_report_loss(pre_report(rid))
    agent = ids.resident_id() if kind == 9 else None
    if agent is not None:
        yield office.authorize_proxy(
            AuthorizeProxy(
                resident_id=rid,
                actor=_CLERK,
                outlet=_OUTLET,
                agent_resident_id=agent,
                agent_name="李四",
                scope=frozenset({ProxyScope.APPLY, ProxyScope.COLLECT}),
                grounds=ProxyGrounds.OTHER,
                documents=_PROXY_DOCS,
            )
        )
    application = office.report_loss_formally(
        ReportLossFormally(
            resident_id=rid,
            actor=_CLERK,
            outlet=_OUTLET,
            applicant=Applicant.AGENT if agent else Applicant.HOLDER,
            agent_resident_id=agent,
            identity_documents=_AGENT_DOCS if agent else _HOLDER_DOCS,
            collection_outlet=_PICKUP,
        )
    )
    yield application
    new_card = ids.card_number()
    produced = office.record_production(
        RecordProduction(
            actor=_CENTRE,
            certificate_number=application.certificate_number,
            new_card_number=new_card,
            batch_id="BENCH",
        )
    )
    assert produced is not None
    yield produced
    yield office.record_collection(
        RecordCollection(
            resident_id=rid,
            actor=_CLERK,
            outlet=_PICKUP,
            certificate_number=application.certificate_number,
            collected_by=Applicant.AGENT if agent else Applicant.HOLDER,
            agent_resident_id=agent,
        )
    )
    yield office.activate_card(
        ActivateCard(resident_id=rid, actor=_CLERK, outlet=_PICKUP, card_number=new_card)
    )


def populate(office: CardOffice, events: int, ids: Identities, say: Say) -> int:
    say(f"setup: writing {events:,} card events through the card office")
    started = time.perf_counter()
    written = 0
    for holder in itertools.count():
        for _ in _story(office, ids, holder):
            written += 1
            if written % _PROGRESS_EVERY == 0 or written == events:
                say(f"setup:   {written:,}/{events:,} ({time.perf_counter() - started:.1f} s)")
            if written == events:
                return written
    raise AssertionError("unreachable")


def register(office: CardOffice, count: int, say: Say) -> list[str]:
    """Holders for the latency run, each with a card that can be pre-reported."""
    say(f"setup: registering {count:,} holders for the latency run")
    ids = Identities("110108", "L")  # a district and card series the population never uses
    holders = []
    for _ in range(count):
        rid = ids.resident_id()
        office.issue_card(_issue(rid, ids.card_number()))
        holders.append(rid)
    return holders
