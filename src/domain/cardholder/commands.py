"""What outlet clerks, the production centre, channels and the system ask of a holder's stream.

Commands are validated pydantic models: an entry point that cannot build one has bad input, and
nothing reaches the store.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.cardholder.events import (
    Applicant,
    CardKind,
    DamageCause,
    ErasureReason,
    FeeWaiver,
    IdentityDocument,
    IssueSource,
    PreReportCancelReason,
    ProxyScope,
)
from domain.event import Actor, Channel
from domain.identifiers import (
    CardNumber,
    CertificateNumber,
    OutletCode,
    RegionCode,
    ResidentId,
)
from domain.region_policy import ProxyDocument, ProxyGrounds
from domain.requests import RequestId
from domain.values import Name, validate_name

# The outlet fields a command may carry; each one must name a configured outlet.
_OUTLET_FIELDS = ("outlet", "collection_outlet")


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: Actor
    # The client's id for this request (the HTTP API maps Idempotency-Key onto it): a retry with
    # the same id and the same content gets the first result and writes nothing.
    request_id: RequestId | None = None

    def outlet_codes(self) -> tuple[str, ...]:
        return tuple(
            code for name in _OUTLET_FIELDS if isinstance(code := getattr(self, name, None), str)
        )


class HolderCommand(Command):
    """A command about the holder named by their resident ID number."""

    resident_id: ResidentId


class AtOutlet(HolderCommand):
    outlet: OutletCode


class IssueCard(HolderCommand):
    holder_name: Name
    region_code: RegionCode
    card_number: CardNumber
    card_kind: CardKind = CardKind.SOCIAL_SECURITY_CARD
    issued_on: date | None = None  # None: today, in the region's time zone
    source: IssueSource = IssueSource.ISSUED
    outlet: OutletCode | None = None


class PreReportLoss(HolderCommand):
    channel: Channel
    outlet: OutletCode | None = None
    identity_document: IdentityDocument

    @model_validator(mode="after")
    def _channel_consistent(self) -> Self:
        if self.channel is Channel.OUTLET:
            if self.outlet is None:
                raise ValueError("a pre-report at an outlet names the outlet")
            if self.identity_document is IdentityDocument.ONLINE_IDENTITY:
                raise ValueError(
                    "at an outlet the holder shows the resident ID card or household register"
                )
        else:
            if self.outlet is not None:
                raise ValueError(f"a pre-report through {self.channel.value} has no outlet")
            if self.identity_document is not IdentityDocument.ONLINE_IDENTITY:
                raise ValueError(
                    f"a pre-report through {self.channel.value} uses the channel's own identity "
                    "check (online_identity)"
                )
        return self


class CancelPreReport(AtOutlet):
    reason: PreReportCancelReason = PreReportCancelReason.CARD_FOUND


class AuthorizeProxy(AtOutlet):
    agent_resident_id: ResidentId
    agent_name: Name
    scope: frozenset[ProxyScope] = Field(min_length=1)
    grounds: ProxyGrounds
    documents: frozenset[ProxyDocument]
    relationship: Annotated[str, AfterValidator(validate_name), Field(max_length=32)] | None = None


class ReportLossFormally(AtOutlet):
    applicant: Applicant = Applicant.HOLDER
    agent_resident_id: ResidentId | None = None
    identity_documents: frozenset[ProxyDocument]
    collection_outlet: OutletCode
    fee_waiver: FeeWaiver | None = None
    photo_provided: bool = False


class ReplaceDamagedCard(AtOutlet):
    """损坏换卡: the holder (or an agent) surrenders a damaged card and applies for a new one."""

    cause: DamageCause
    applicant: Applicant = Applicant.HOLDER
    agent_resident_id: ResidentId | None = None
    identity_documents: frozenset[ProxyDocument]
    collection_outlet: OutletCode
    photo_provided: bool = False


class RecordProduction(Command):
    """From the production centre, which knows the certificate, not the holder."""

    certificate_number: CertificateNumber
    new_card_number: CardNumber
    batch_id: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[ -~]+$")
    # When the centre produced the card (a batch file says so); None: now. It dates the event,
    # so it may be neither in the future nor before the holder's previous event.
    produced_at: AwareDatetime | None = None


class RecordCollection(AtOutlet):
    certificate_number: CertificateNumber
    collected_by: Applicant = Applicant.HOLDER
    agent_resident_id: ResidentId | None = None
    identity_document: IdentityDocument = IdentityDocument.RESIDENT_ID_CARD


class ActivateCard(AtOutlet):
    card_number: CardNumber


class EraseHolder(HolderCommand):
    """Crypto-shredding, by an auditor: the holder's data key is destroyed after this is
    recorded. It names no outlet: it is a back-office act, not a counter service."""

    reason: ErasureReason
