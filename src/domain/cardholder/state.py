"""The cardholder aggregate's state, rebuilt from its events by ``apply``.

Immutable: every event yields a new state, so a cached aggregate can never be corrupted by a
command that failed half way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from domain.cardholder.events import (
    Applicant,
    CardActivated,
    CardCollected,
    CardIssued,
    CardKind,
    CardProduced,
    DamagedCardReplacementApplied,
    HolderErased,
    LapseResult,
    LossFormallyReported,
    LossPreReportCancelled,
    LossPreReported,
    LossPreReportLapsed,
    ProxyAuthorized,
    ProxyScope,
)
from domain.erasure import ERASED
from domain.event import DomainEvent
from domain.region_policy import LapseOutcome
from domain.suspension import OPENS, WindowEnd, window_change


class CaseKind(StrEnum):
    LOSS = "loss"  # 补卡 after a formal loss report
    DAMAGE = "damage"  # 换卡: a damaged card surrendered


class CardStatus(StrEnum):
    """Card states as card-management systems name them.

    (应用锁定 "application locked" also exists there; no step of this lifecycle sets it.)
    """

    NORMAL = "normal"  # 正常
    SEALED = "sealed"  # 封存: collected, not yet activated
    TEMPORARILY_LOST = "temporarily_lost"  # 临时挂失
    FORMALLY_LOST = "formally_lost"  # 正式挂失
    CANCELLED = "cancelled"  # 注销
    SURRENDERED = "surrendered"  # 已回收: a damaged card handed in for exchange


@dataclass(frozen=True, slots=True)
class Card:
    number: str
    kind: CardKind
    status: CardStatus
    since: datetime


@dataclass(frozen=True, slots=True)
class PreReport:
    version: int
    card_number: str
    reported_at: datetime
    lapses_at: datetime
    lapse_outcome: LapseOutcome


@dataclass(frozen=True, slots=True)
class ProxyAuthorization:
    version: int
    agent_resident_id: str
    agent_name: str
    scope: frozenset[ProxyScope]
    authorized_at: datetime


@dataclass(frozen=True, slots=True)
class ReplacementCase:
    opened_version: int
    old_card_number: str
    applicant: Applicant
    collection_outlet: str
    certificate_number: str
    applied_at: datetime
    production_due_on: date
    kind: CaseKind = CaseKind.LOSS
    new_card_number: str | None = None
    produced_at: datetime | None = None
    collected_at: datetime | None = None
    collected_by: Applicant | None = None


@dataclass(frozen=True, slots=True)
class SuspensionWindow:
    """A stretch of time when the holder could not settle with a card (claims need these)."""

    card_number: str
    started_at: datetime
    ended_at: datetime | None = None
    ended_by: str | None = None


@dataclass(frozen=True, slots=True)
class Cardholder:
    id: UUID
    version: int
    resident_id: str
    name: str
    region_code: str
    card: Card
    retired_cards: tuple[Card, ...] = ()
    pre_report: PreReport | None = None
    proxies: tuple[ProxyAuthorization, ...] = ()
    case: ReplacementCase | None = None
    suspensions: tuple[SuspensionWindow, ...] = ()
    completed_cases: int = 0
    # Crypto-shredded (``HolderErased``): personal fields read as erased, commands are refused.
    erased_at: datetime | None = None
    # The newest event of the stream: a repeat that would record the same fact again is
    # recognised without another read, and no event may be dated before it.
    last_event: DomainEvent | None = None

    @property
    def updated_at(self) -> datetime:
        assert self.last_event is not None
        return self.last_event.occurred_at

    @property
    def erased(self) -> bool:
        return self.erased_at is not None

    @property
    def settlement_suspended(self) -> bool:
        return bool(self.suspensions) and self.suspensions[-1].ended_at is None

    def known_card_numbers(self) -> frozenset[str]:
        return frozenset({self.card.number, *(c.number for c in self.retired_cards)})


def _windows_after(holder: Cardholder, event: DomainEvent) -> tuple[SuspensionWindow, ...]:
    """The holder's suspension windows once ``event`` happened, by the one rule of
    ``domain.suspension`` (the card a window names is the one the holder had before)."""
    lapse_result = event.result.value if isinstance(event, LossPreReportLapsed) else None
    change = window_change(type(event).__name__, lapse_result)
    at = event.occurred_at
    if change == OPENS:
        if holder.settlement_suspended:
            return holder.suspensions
        opened = SuspensionWindow(card_number=holder.card.number, started_at=at)
        return (*holder.suspensions, opened)
    if not isinstance(change, WindowEnd) or not holder.settlement_suspended:
        return holder.suspensions
    last = replace(holder.suspensions[-1], ended_at=at, ended_by=change.value)
    return (*holder.suspensions[:-1], last)


def apply(holder: Cardholder | None, event: DomainEvent) -> Cardholder:
    """Evolve the state by one event. Events are facts: no rule is checked here."""
    if isinstance(event, CardIssued):
        return Cardholder(
            id=event.originator_id,
            version=event.originator_version,
            resident_id=event.resident_id,
            name=event.holder_name,
            region_code=event.region_code,
            card=Card(event.card_number, event.card_kind, CardStatus.NORMAL, event.occurred_at),
            last_event=event,
        )
    if holder is None:
        raise ValueError(f"{type(event).__name__} cannot start a cardholder stream")
    evolved = _evolve(replace(holder, version=event.originator_version, last_event=event), event)
    return replace(evolved, suspensions=_windows_after(holder, event))


def _evolve(holder: Cardholder, event: DomainEvent) -> Cardholder:
    at = event.occurred_at
    match event:
        case LossPreReported():
            return replace(
                holder,
                card=replace(holder.card, status=CardStatus.TEMPORARILY_LOST, since=at),
                pre_report=PreReport(
                    version=event.originator_version,
                    card_number=event.card_number,
                    reported_at=at,
                    lapses_at=event.lapses_at,
                    lapse_outcome=event.lapse_outcome,
                ),
            )
        case LossPreReportCancelled():
            return replace(
                holder,
                card=replace(holder.card, status=CardStatus.NORMAL, since=at),
                pre_report=None,
            )
        case LossPreReportLapsed(result=LapseResult.UNBLOCKED):
            return replace(
                holder,
                card=replace(holder.card, status=CardStatus.NORMAL, since=at),
                pre_report=None,
            )
        case LossPreReportLapsed():
            # The card is cancelled: the holder stays unable to settle until a new card.
            return replace(
                holder,
                card=replace(holder.card, status=CardStatus.CANCELLED, since=at),
                pre_report=None,
            )
        case ProxyAuthorized():
            authorization = ProxyAuthorization(
                version=event.originator_version,
                agent_resident_id=event.agent_resident_id,
                agent_name=event.agent_name,
                scope=event.scope,
                authorized_at=at,
            )
            return replace(holder, proxies=(*holder.proxies, authorization))
        case LossFormallyReported():
            return replace(
                holder,
                card=replace(holder.card, status=CardStatus.FORMALLY_LOST, since=at),
                pre_report=None,
                case=ReplacementCase(
                    opened_version=event.originator_version,
                    old_card_number=event.card_number,
                    applicant=event.applicant,
                    collection_outlet=event.collection_outlet,
                    certificate_number=event.certificate_number,
                    applied_at=at,
                    production_due_on=event.production_due_on,
                ),
            )
        case DamagedCardReplacementApplied():
            return replace(
                holder,
                card=replace(holder.card, status=CardStatus.SURRENDERED, since=at),
                case=ReplacementCase(
                    opened_version=event.originator_version,
                    old_card_number=event.card_number,
                    applicant=event.applicant,
                    collection_outlet=event.collection_outlet,
                    certificate_number=event.certificate_number,
                    applied_at=at,
                    production_due_on=event.production_due_on,
                    kind=CaseKind.DAMAGE,
                ),
            )
        case CardProduced():
            assert holder.case is not None
            return replace(
                holder,
                case=replace(holder.case, new_card_number=event.new_card_number, produced_at=at),
            )
        case CardCollected():
            assert holder.case is not None
            new_card = Card(event.card_number, holder.card.kind, CardStatus.SEALED, at)
            if new_card.kind is CardKind.MEDICAL_INSURANCE_IC:
                new_card = replace(new_card, kind=CardKind.SOCIAL_SECURITY_CARD)
            return replace(
                holder,
                card=new_card,
                retired_cards=(*holder.retired_cards, holder.card),
                case=replace(holder.case, collected_at=at, collected_by=event.collected_by),
            )
        case CardActivated():
            return replace(
                holder,
                card=replace(holder.card, status=CardStatus.NORMAL, since=at),
                case=None,
                proxies=(),
                completed_cases=holder.completed_cases + 1,
            )
        case HolderErased():
            # The records themselves read as erased once the key is gone; a state cached from
            # before the erasure forgets the personal fields here too.
            return replace(
                holder,
                resident_id=ERASED,
                name=ERASED,
                proxies=tuple(
                    replace(p, agent_resident_id=ERASED, agent_name=ERASED) for p in holder.proxies
                ),
                erased_at=at,
            )
    raise ValueError(f"unknown cardholder event {type(event).__name__}")


def project(holder: Cardholder | None, events: Iterable[DomainEvent]) -> Cardholder | None:
    """The projector the repository calls: fold events onto a (possibly cached) state."""
    for event in events:
        holder = apply(holder, event)
    return holder
