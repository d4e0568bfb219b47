"""The card office: one method per use case (load the holder, decide, save), on ``eventsourcing``.

Persistence (SQLite or PostgreSQL), the mapper and the transcoder come from the environment the
composition root passes in; nothing here knows which database it writes to.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import EventSourcingError

from domain.cardholder import decisions
from domain.cardholder.commands import (
    ActivateCard,
    AuthorizeProxy,
    CancelPreReport,
    HolderCommand,
    IssueCard,
    PreReportLoss,
    RecordCollection,
    RecordProduction,
    ReportLossFormally,
)
from domain.cardholder.errors import (
    CardNumberInUse,
    HolderAlreadyRegistered,
    HolderNotFound,
    NoOpenApplication,
)
from domain.cardholder.events import (
    CardActivated,
    CardCollected,
    CardIssued,
    CardProduced,
    LossFormallyReported,
    LossPreReportCancelled,
    LossPreReported,
    LossPreReportLapsed,
    ProxyAuthorized,
)
from domain.cardholder.state import Cardholder, project
from domain.claims.office import ClaimUseCases
from domain.errors import DomainError
from domain.event import DomainEvent
from domain.identifiers import (
    holder_stream_id,
    mask_resident_id,
    validate_card_number,
    validate_resident_id,
)
from domain.references import (
    CardNumberReserved,
    CertificateNumberReserved,
    Reservation,
    card_number_stream_id,
    certificate_stream_id,
    reserve_card_number,
    reserve_certificate,
)
from domain.region_policy import RegionPolicies

E = TypeVar("E", bound=DomainEvent)


class ConcurrentUpdateError(DomainError):
    """The holder's stream kept moving under us; the caller may simply try again."""

    code = "concurrent_update"


def utc_now() -> datetime:
    return datetime.now(UTC)


def random_certificate_number(region_code: str) -> str:
    """Printed on the collection certificate; random so it cannot be guessed from another."""
    return f"{region_code}-{secrets.randbelow(10**10):010d}"


class CardOffice(ClaimUseCases, Application[UUID]):
    """Use cases of the loss-reporting and replacement back office."""

    name = "CardOffice"
    HOLDER_ID_KEY = "HOLDER_ID_KEY"
    MAX_ATTEMPTS = 5

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        policies: RegionPolicies | None = None,
        clock: Callable[[], datetime] = utc_now,
        certificate_numbers: Callable[[str], str] = random_certificate_number,
    ) -> None:
        super().__init__(env)
        key = self.env.get(self.HOLDER_ID_KEY)
        if not key:
            raise ValueError(
                f"{self.name} needs {self.HOLDER_ID_KEY} (the key that turns resident ID "
                "numbers into holder stream ids)"
            )
        self._holder_id_key = key.encode("utf-8")
        self.policies = policies or RegionPolicies.packaged()
        self._clock = clock
        self._certificate_numbers = certificate_numbers

    # ---- identities -------------------------------------------------------------------

    def holder_id(self, resident_id: str) -> UUID:
        return holder_stream_id(validate_resident_id(resident_id), self._holder_id_key)

    def holder_of_card(self, card_number: str) -> UUID | None:
        return self._reserved_by(card_number_stream_id(validate_card_number(card_number)))

    def holder_of_certificate(self, certificate_number: str) -> UUID | None:
        return self._reserved_by(certificate_stream_id(certificate_number))

    def _reserved_by(self, stream_id: UUID) -> UUID | None:
        for event in self.events.get(stream_id, limit=1):
            assert isinstance(event, Reservation)
            return event.holder_id
        return None

    # ---- commands ----------------------------------------------------------------------

    def issue_card(self, command: IssueCard) -> CardIssued:
        """Open the holder's stream with their first card (or one imported from a legacy system)."""
        self.policies.policy_for(command.region_code)  # an unknown region is refused up front
        holder_id = self.holder_id(command.resident_id)
        ctx = self._context(command.region_code)
        event = decisions.issue_card(holder_id, command, ctx)
        reservation = reserve_card_number(event.card_number, holder_id, ctx.now, command.actor)
        try:
            self.save(event, reservation)
        except EventSourcingError:
            if self._stream_exists(holder_id):
                raise HolderAlreadyRegistered(
                    f"cardholder {mask_resident_id(command.resident_id)} is already registered"
                ) from None
            self._raise_if_card_taken(event.card_number)
            raise
        return event

    def pre_report_loss(self, command: PreReportLoss) -> LossPreReported:
        return self._run(command, decisions.pre_report_loss)

    def cancel_pre_report(self, command: CancelPreReport) -> LossPreReportCancelled:
        return self._run(command, decisions.cancel_pre_report)

    def authorize_proxy(self, command: AuthorizeProxy) -> ProxyAuthorized:
        return self._run(command, decisions.authorize_proxy)

    def report_loss_formally(self, command: ReportLossFormally) -> LossFormallyReported:
        return self._run(command, decisions.report_loss_formally)

    def record_production(self, command: RecordProduction) -> CardProduced | None:
        """Idempotent: a retry with the same new card number records nothing and returns None."""
        holder_id = self.holder_of_certificate(command.certificate_number)
        if holder_id is None:
            raise NoOpenApplication(
                f"no replacement application carries certificate {command.certificate_number}"
            )
        return self._write(
            holder_id, lambda holder, ctx: decisions.record_production(holder, command, ctx)
        )

    def record_collection(self, command: RecordCollection) -> CardCollected:
        return self._run(command, decisions.record_collection)

    def activate_card(self, command: ActivateCard) -> CardActivated:
        return self._run(command, decisions.activate_card)

    def lapse_pre_report(
        self, holder_id: UUID, pre_report_version: int, now: datetime | None = None
    ) -> LossPreReportLapsed | None:
        """Raised by the scheduler. Returns None when the pre-report was already dealt with."""
        return self._write(
            holder_id,
            lambda holder, ctx: decisions.lapse_pre_report(holder, pre_report_version, ctx),
            now=now,
        )

    # ---- queries -------------------------------------------------------------------------

    def holder(self, resident_id: str) -> Cardholder:
        return self.holder_by_id(self.holder_id(resident_id))

    def holder_by_id(self, holder_id: UUID, version: int | None = None) -> Cardholder:
        try:
            holder: Cardholder = self.repository.get(
                holder_id, version=version, projector_func=project
            )
        except AggregateNotFoundError:
            raise HolderNotFound(
                "no cardholder with that resident ID number is registered"
            ) from None
        return holder

    def history(self, resident_id: str) -> list[DomainEvent]:
        """Every event of the holder's stream, oldest first (what the auditor reads)."""
        holder_id = self.holder_id(resident_id)
        events = [e for e in self.events.get(holder_id) if isinstance(e, DomainEvent)]
        if not events:
            raise HolderNotFound("no cardholder with that resident ID number is registered")
        return events

    # ---- the one write path ------------------------------------------------------------

    def _run(
        self, command: HolderCommand, decide: Callable[[Cardholder, Any, decisions.Context], E]
    ) -> E:
        event = self._write(
            self.holder_id(command.resident_id),
            lambda holder, ctx: decide(holder, command, ctx),
        )
        assert event is not None
        return event

    def _write(
        self,
        holder_id: UUID,
        decide: Callable[[Cardholder, decisions.Context], E | None],
        now: datetime | None = None,
    ) -> E | None:
        """Load, decide, save, all or nothing; retried (bounded) when a concurrent command won."""
        for _ in range(self.MAX_ATTEMPTS):
            holder = self.holder_by_id(holder_id)
            event = decide(holder, self._context(holder.region_code, now))
            if event is None:
                return None
            extra = self._reservations(event, holder_id)
            try:
                self.save(event, *extra)
            except EventSourcingError:
                if self._stream_moved_on(holder_id, holder.version):
                    continue
                if any(
                    isinstance(r, CertificateNumberReserved)
                    and self._stream_exists(r.originator_id)
                    for r in extra
                ):
                    continue  # a random certificate number collided: draw another
                for reservation in extra:
                    if isinstance(reservation, CardNumberReserved):
                        self._raise_if_card_taken(reservation.card_number)
                raise
            return event
        raise ConcurrentUpdateError(
            "the cardholder's record changed repeatedly while this command ran; try again"
        )

    def _context(self, region_code: str, now: datetime | None = None) -> decisions.Context:
        at = now or self._clock()
        if at.tzinfo is None:
            raise ValueError("the clock must return timezone-aware datetimes")
        return decisions.Context(
            now=at.astimezone(UTC),
            policy=self.policies.policy_for(region_code),
            new_event_id=uuid.uuid4,
            new_certificate_number=self._certificate_numbers,
        )

    def _reservations(self, event: DomainEvent, holder_id: UUID) -> Sequence[Reservation]:
        """Numbers the event introduces, reserved in the same transaction."""
        if isinstance(event, CardProduced):
            return [
                reserve_card_number(
                    event.new_card_number, holder_id, event.occurred_at, event.actor
                )
            ]
        if isinstance(event, LossFormallyReported):
            return [
                reserve_certificate(
                    event.certificate_number, holder_id, event.occurred_at, event.actor
                )
            ]
        return []

    def _stream_exists(self, stream_id: UUID) -> bool:
        return any(True for _ in self.events.get(stream_id, limit=1))

    def _stream_moved_on(self, holder_id: UUID, version: int) -> bool:
        return any(True for _ in self.events.get(holder_id, gt=version, limit=1))

    def _raise_if_card_taken(self, card_number: str) -> None:
        if self._stream_exists(card_number_stream_id(card_number)):
            raise CardNumberInUse(f"card number {card_number} already belongs to a cardholder")
