"""The card lifecycle's use cases as every entry point calls them: one function per command or
query, a typed input (a domain command, or a request where the entry point cannot yet say who
acts) and a typed result (``application.card_results``).

Nothing here prints or parses: the command line and the HTTP API render the results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from application.card_results import CardOwnerResult, EventResult, shown_id
from application.results import BEIJING
from application.store_positions import store_position
from domain.cardholder.channels import default_identity_document, pre_report_actor
from domain.cardholder.commands import (
    ActivateCard,
    AuthorizeProxy,
    CancelPreReport,
    Command,
    HolderCommand,
    IssueCard,
    PreReportLoss,
    RecordCollection,
    RecordProduction,
    ReplaceDamagedCard,
    ReportLossFormally,
)
from domain.cardholder.errors import HolderNotFound
from domain.cardholder.events import IdentityDocument
from domain.event import Channel, DomainEvent
from domain.identifiers import OutletCode, ResidentId
from domain.requests import RequestId

if TYPE_CHECKING:  # the office is passed in; its module loads the event store library
    from domain.application import CardOffice, Outcome


def event_result(office: CardOffice, outcome: Outcome[DomainEvent]) -> EventResult:
    """A command's outcome in the contract's words, dated in the holder's region's time."""
    event = outcome.event
    holder = office.holder_by_id(event.originator_id) if event is not None else None
    zone = office.policies.policy_for(holder.region_code).zone if holder else None
    return EventResult.of(
        status="already_recorded" if outcome.status == "already_recorded" else "recorded",
        replayed=outcome.status == "repeated",
        event=event,
        zone=zone or BEIJING,
        holder_id=shown_id(holder.resident_id) if holder else None,
        store_position=outcome.position or store_position(office, event),
    )


def _record(office: CardOffice, command: Command) -> EventResult:
    result = event_result(office, office.execute(command))
    if result.holder_id is None and isinstance(command, HolderCommand):
        # Nothing on record to show (a no-op the rules answer themselves): name the holder.
        result = result.model_copy(update={"holder_id": shown_id(command.resident_id)})
    return result


def issue_card(office: CardOffice, command: IssueCard) -> EventResult:
    return _record(office, command)


class PreReportRequest(BaseModel):
    """A loss pre-report as a channel receives it: who acts and which document identifies the
    holder follow from the channel (``domain.cardholder.channels``)."""

    model_config = ConfigDict(frozen=True)

    resident_id: ResidentId
    channel: Channel = Channel.OUTLET
    outlet: OutletCode | None = None
    staff_id: str | None = None
    identity_document: IdentityDocument | None = None
    request_id: RequestId | None = None

    def command(self) -> PreReportLoss:
        return PreReportLoss(
            resident_id=self.resident_id,
            actor=pre_report_actor(self.channel, self.staff_id),
            channel=self.channel,
            outlet=self.outlet,
            identity_document=self.identity_document or default_identity_document(self.channel),
            request_id=self.request_id,
        )


def pre_report_loss(office: CardOffice, request: PreReportRequest) -> EventResult:
    return _record(office, request.command())


def cancel_pre_report(office: CardOffice, command: CancelPreReport) -> EventResult:
    return _record(office, command)


def report_loss_formally(office: CardOffice, command: ReportLossFormally) -> EventResult:
    return _record(office, command)


def authorize_proxy(office: CardOffice, command: AuthorizeProxy) -> EventResult:
    return _record(office, command)


def replace_damaged_card(office: CardOffice, command: ReplaceDamagedCard) -> EventResult:
    return _record(office, command)


def record_production(office: CardOffice, command: RecordProduction) -> EventResult:
    """Sent again, whatever became of the card since (collected, activated, replaced again),
    a production answers ``already_recorded`` and writes nothing."""
    return _record(office, command)


def record_collection(office: CardOffice, command: RecordCollection) -> EventResult:
    return _record(office, command)


def activate_card(office: CardOffice, command: ActivateCard) -> EventResult:
    return _record(office, command)


class CardNotRegistered(HolderNotFound):
    code = "card_not_registered"


def card_owner(office: CardOffice, card_number: str) -> CardOwnerResult:
    """Which holder a card number belongs to (current or retired card); refused when none."""
    number = card_number.strip().upper()
    holder_id = office.holder_of_card(number)
    if holder_id is None:
        raise CardNotRegistered(f"card {number} belongs to no registered holder")
    holder = office.holder_by_id(holder_id)
    return CardOwnerResult(
        card_number=number,
        current=holder.card.number == number,
        holder_id=shown_id(holder.resident_id),
        stream_id=str(holder_id),
    )
