"""Decisions: given the holder's state and a command, the events to record (or a typed refusal).

Pure functions: the clock, ids, certificate numbers and the region policy arrive in ``Context``,
so every rule can be tested without a store and every decision is repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from domain.cardholder import rules
from domain.cardholder.authority import check_authority
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
    CardActivated,
    CardCollected,
    CardIssued,
    CardProduced,
    DamagedCardReplacementApplied,
    HolderErased,
    LapseResult,
    LossFormallyReported,
    LossPreReportCancelled,
    LossPreReported,
    LossPreReportLapsed,
    ProxyAuthorized,
)
from domain.cardholder.state import Card, Cardholder
from domain.event import FIRST_VERSION, Actor, DomainEvent
from domain.outlets import OutletRegistry
from domain.region_policy import LapseOutcome, RegionPolicy
from domain.working_days import DueDate, WorkingCalendar, add_working_days

E = TypeVar("E", bound=DomainEvent)


@dataclass(frozen=True)
class Context:
    now: datetime  # UTC, what the event is dated
    policy: RegionPolicy
    outlets: OutletRegistry
    calendar: WorkingCalendar
    new_event_id: Callable[[], UUID]
    new_certificate_number: Callable[[str], str]

    @property
    def today(self) -> date:
        """The business date: today in the region's time zone, not in UTC."""
        return self.now.astimezone(self.policy.zone).date()

    def production_due(self, collection_outlet: str) -> DueDate:
        """When the new card is due at the outlet: the region's working days after today, on
        the official calendar (the same day at an instant-issue outlet)."""
        days = self.outlets.production_days_at(
            collection_outlet, self.policy.production_working_days
        )
        return add_working_days(self.calendar, self.today, days)


def _next(cls: type[E], holder: Cardholder, ctx: Context, actor: Actor, **fields: Any) -> E:
    return cls(
        originator_id=holder.id,
        originator_version=holder.version + 1,
        event_id=ctx.new_event_id(),
        occurred_at=ctx.now,
        actor=actor,
        **fields,
    )


def issue_card(
    holder_id: UUID, holder: Cardholder | None, command: IssueCard, ctx: Context
) -> CardIssued:
    check_authority(command)
    issued_on = command.issued_on or ctx.today
    rules.can_register(holder, issued_on, ctx.today, ctx.policy.zone)
    return CardIssued(
        originator_id=holder_id,
        originator_version=FIRST_VERSION,
        event_id=ctx.new_event_id(),
        occurred_at=ctx.now,
        actor=command.actor,
        outlet=command.outlet,
        resident_id=command.resident_id,
        holder_name=command.holder_name,
        region_code=command.region_code,
        card_number=command.card_number,
        card_kind=command.card_kind,
        issued_on=issued_on,
        source=command.source,
    )


def pre_report_loss(holder: Cardholder, command: PreReportLoss, ctx: Context) -> LossPreReported:
    check_authority(command)
    card = rules.can_pre_report(holder, ctx.policy.zone)
    return _next(
        LossPreReported,
        holder,
        ctx,
        command.actor,
        outlet=command.outlet,
        card_number=card.number,
        channel=command.channel,
        identity_document=command.identity_document,
        lapses_at=ctx.now + timedelta(days=ctx.policy.lapse_days),
        lapse_outcome=ctx.policy.lapse_outcome,
    )


def cancel_pre_report(
    holder: Cardholder, command: CancelPreReport, ctx: Context
) -> LossPreReportCancelled:
    check_authority(command)
    pre_report = rules.can_cancel_pre_report(holder, ctx.policy.zone)
    return _next(
        LossPreReportCancelled,
        holder,
        ctx,
        command.actor,
        outlet=command.outlet,
        card_number=pre_report.card_number,
        pre_report_version=pre_report.version,
        reason=command.reason,
    )


def lapse_pre_report(
    holder: Cardholder, pre_report_version: int, ctx: Context
) -> LossPreReportLapsed | None:
    pre_report = rules.due_lapse(holder, pre_report_version, ctx.now)
    if pre_report is None:
        return None
    result = (
        LapseResult.UNBLOCKED
        if pre_report.lapse_outcome is LapseOutcome.UNBLOCK
        else LapseResult.CANCELLED
    )
    return _next(
        LossPreReportLapsed,
        holder,
        ctx,
        Actor.system(),
        card_number=pre_report.card_number,
        pre_report_version=pre_report.version,
        deadline=pre_report.lapses_at,
        result=result,
    )


def authorize_proxy(holder: Cardholder, command: AuthorizeProxy, ctx: Context) -> ProxyAuthorized:
    check_authority(command)
    rules.check_proxy_authorization(
        holder,
        ctx.policy,
        command.agent_resident_id,
        command.grounds,
        command.documents,
        ctx.today,
    )
    return _next(
        ProxyAuthorized,
        holder,
        ctx,
        command.actor,
        outlet=command.outlet,
        agent_resident_id=command.agent_resident_id,
        agent_name=command.agent_name,
        scope=command.scope,
        grounds=command.grounds,
        documents=command.documents,
        relationship=command.relationship,
    )


def report_loss_formally(
    holder: Cardholder, command: ReportLossFormally, ctx: Context
) -> LossFormallyReported:
    check_authority(command)
    card = rules.can_report_formally(
        holder,
        command.applicant,
        command.agent_resident_id,
        command.identity_documents,
        ctx.policy.zone,
    )
    return _next(
        LossFormallyReported,
        holder,
        ctx,
        command.actor,
        **_new_card_application(holder, command, ctx, card),
        fee_fen=rules.replacement_fee(ctx.policy, command.fee_waiver),
        fee_waiver=command.fee_waiver,
    )


def replace_damaged_card(
    holder: Cardholder, command: ReplaceDamagedCard, ctx: Context
) -> DamagedCardReplacementApplied:
    check_authority(command)
    card = rules.can_replace_damaged(
        holder,
        command.applicant,
        command.agent_resident_id,
        command.identity_documents,
        ctx.policy.zone,
    )
    return _next(
        DamagedCardReplacementApplied,
        holder,
        ctx,
        command.actor,
        **_new_card_application(holder, command, ctx, card),
        cause=command.cause,
        fee_fen=rules.damaged_card_fee(ctx.policy, command.cause),
    )


def _new_card_application(
    holder: Cardholder,
    command: ReportLossFormally | ReplaceDamagedCard,
    ctx: Context,
    card: Card,
) -> dict[str, Any]:
    """What every application for a new card records, lost or damaged: who applied with which
    documents, where it is collected, its certificate and its production due date."""
    converting = rules.check_photo(card, command.photo_provided)  # refused first, as always
    due = ctx.production_due(command.collection_outlet)
    return {
        "outlet": command.outlet,
        "card_number": card.number,
        "applicant": command.applicant,
        "agent_resident_id": command.agent_resident_id,
        "identity_documents": command.identity_documents,
        "collection_outlet": command.collection_outlet,
        "certificate_number": ctx.new_certificate_number(holder.region_code),
        "converting_medical_ic": converting,
        "photo_provided": command.photo_provided,
        "production_due_on": due.day,
        "production_due_basis": due.basis,
    }


def record_production(
    holder: Cardholder, command: RecordProduction, ctx: Context
) -> CardProduced | None:
    """None when the production centre retries a production already recorded."""
    check_authority(command)
    case = rules.can_produce(holder, command.certificate_number, command.new_card_number)
    if case is None:
        return None
    return _next(
        CardProduced,
        holder,
        ctx,
        command.actor,
        certificate_number=case.certificate_number,
        new_card_number=command.new_card_number,
        dispatched_to=case.collection_outlet,
        batch_id=command.batch_id,
    )


def record_collection(holder: Cardholder, command: RecordCollection, ctx: Context) -> CardCollected:
    check_authority(command)
    case = rules.can_collect(
        holder,
        command.certificate_number,
        command.outlet,
        command.collected_by,
        command.agent_resident_id,
        command.identity_document,
    )
    assert case.new_card_number is not None
    return _next(
        CardCollected,
        holder,
        ctx,
        command.actor,
        outlet=command.outlet,
        card_number=case.new_card_number,
        certificate_number=case.certificate_number,
        collected_by=command.collected_by,
        agent_resident_id=command.agent_resident_id,
        identity_document=command.identity_document,
    )


def activate_card(holder: Cardholder, command: ActivateCard, ctx: Context) -> CardActivated:
    check_authority(command)
    card = rules.can_activate(holder, command.card_number)
    return _next(
        CardActivated, holder, ctx, command.actor, outlet=command.outlet, card_number=card.number
    )


def erase_holder(holder: Cardholder, command: EraseHolder, ctx: Context) -> HolderErased | None:
    """The erasure itself; None when the holder is already erased (nothing more to destroy)."""
    check_authority(command)
    if holder.erased:
        return None
    return _next(HolderErased, holder, ctx, command.actor, reason=command.reason)
