"""The card office: one method per use case (load the holder, decide, save), on ``eventsourcing``.

Persistence (SQLite or PostgreSQL), the mapper and the transcoder come from the environment the
composition root passes in; nothing here knows which database it writes to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.cardholder import decisions
from domain.cardholder.commands import (
    ActivateCard,
    AuthorizeProxy,
    CancelPreReport,
    Command,
    EraseHolder,
    HolderCommand,
    IssueCard,
    PreReportLoss,
    RecordCollection,
    RecordProduction,
    ReplaceDamagedCard,
    ReportLossFormally,
)
from domain.cardholder.errors import CertificateMismatch, HolderNotFound, NoOpenApplication
from domain.cardholder.events import (
    CardActivated,
    CardCollected,
    CardIssued,
    CardProduced,
    DamagedCardReplacementApplied,
    LossFormallyReported,
    LossPreReportCancelled,
    LossPreReported,
    LossPreReportLapsed,
    ProxyAuthorized,
)
from domain.cardholder.state import Cardholder
from domain.claims.office import ClaimUseCases
from domain.event import DomainEvent
from domain.identifiers import holder_stream_id, validate_card_number, validate_resident_id
from domain.keyed_digests import DigestKeys
from domain.outlets import OutletRegistry
from domain.references import Reservation, card_number_stream_id, certificate_stream_id
from domain.region_policy import RegionPolicies
from domain.unmasked_reads import UnmaskedReadLedger
from domain.working_days import WorkingCalendar
from domain.write_path import (
    BeforePreviousEvent,
    ConcurrentUpdateError,
    Outcome,
    WritePath,
    random_certificate_number,
    require_holder,
    utc_now,
)

__all__ = ["CardOffice", "ConcurrentUpdateError", "Outcome", "utc_now"]

E = TypeVar("E", bound=DomainEvent)


class CardOffice(ClaimUseCases, WritePath, UnmaskedReadLedger):
    """Use cases of the loss-reporting and replacement back office."""

    name = "CardOffice"
    HOLDER_ID_KEY = "HOLDER_ID_KEY"
    # Resident ID -> stream id, remembered: the keyed hash and the ID check run once per holder.
    HOLDER_ID_CACHE_SIZE = 100_000

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        calendar: WorkingCalendar,
        policies: RegionPolicies | None = None,
        outlets: OutletRegistry | None = None,
        clock: Callable[[], datetime] = utc_now,
        certificate_numbers: Callable[[str], str] = random_certificate_number,
    ) -> None:
        try:
            super().__init__(env)
        except BaseException:
            _close_what_was_opened(self)
            raise
        key = self.env.get(self.HOLDER_ID_KEY)
        if not key:
            raise ValueError(
                f"{self.name} needs {self.HOLDER_ID_KEY} (the key that turns resident ID "
                "numbers into holder stream ids)"
            )
        self._holder_id_key = key.encode("utf-8")
        self.digest_keys = DigestKeys.from_holder_id_key(self._holder_id_key)
        self._holder_ids: dict[str, UUID] = {}
        self.policies = policies or RegionPolicies.packaged()
        self.outlets = outlets or OutletRegistry.packaged()
        self.calendar = calendar
        self._clock = clock
        self._certificate_numbers = certificate_numbers

    # ---- identities -------------------------------------------------------------------

    def holder_id(self, resident_id: str) -> UUID:
        found = self._holder_ids.get(resident_id)
        if found is None:
            found = holder_stream_id(validate_resident_id(resident_id), self._holder_id_key)
            if len(self._holder_ids) >= self.HOLDER_ID_CACHE_SIZE:
                self._holder_ids.clear()  # a crude bound: recomputing one costs microseconds
            self._holder_ids[resident_id] = found
        return found

    def holder_of_card(self, card_number: str) -> UUID | None:
        return self._reserved_by(card_number_stream_id(validate_card_number(card_number)))

    def holder_of_certificate(self, certificate_number: str) -> UUID | None:
        return self._reserved_by(certificate_stream_id(certificate_number))

    def _reserved_by(self, stream_id: UUID) -> UUID | None:
        for event in self.events.get(stream_id, limit=1):
            assert isinstance(event, Reservation)
            return event.holder_id
        return None

    def zone_of(self, holder_id: UUID) -> ZoneInfo:
        """The time zone in which the holder's region shows times and counts dates."""
        return self.policies.policy_for(self.holder_by_id(holder_id).region_code).zone

    # ---- commands ----------------------------------------------------------------------

    def execute(self, command: Command) -> Outcome[DomainEvent]:
        """Run any command through the one write path (what the CLI and the HTTP API call)."""
        handler = self._handlers()[type(command)]
        return handler(command)

    def issue_card(self, command: IssueCard) -> CardIssued:
        """Open the holder's stream with their first card (or one imported from a legacy system)."""
        return _event(self.issue_card_outcome(command), CardIssued)

    def issue_card_outcome(self, command: IssueCard) -> Outcome[DomainEvent]:
        self.policies.policy_for(command.region_code)  # an unknown region is refused up front
        holder_id = self.holder_id(command.resident_id)
        return self._write(
            command,
            holder_id,
            lambda holder, ctx: decisions.issue_card(holder_id, holder, command, ctx),
            region_code=command.region_code,
        )

    def pre_report_loss(self, command: PreReportLoss) -> LossPreReported:
        return _event(self._run(command, decisions.pre_report_loss), LossPreReported)

    def cancel_pre_report(self, command: CancelPreReport) -> LossPreReportCancelled:
        return _event(self._run(command, decisions.cancel_pre_report), LossPreReportCancelled)

    def authorize_proxy(self, command: AuthorizeProxy) -> ProxyAuthorized:
        return _event(self._run(command, decisions.authorize_proxy), ProxyAuthorized)

    def report_loss_formally(self, command: ReportLossFormally) -> LossFormallyReported:
        return _event(self._run(command, decisions.report_loss_formally), LossFormallyReported)

    def replace_damaged_card(self, command: ReplaceDamagedCard) -> DamagedCardReplacementApplied:
        return _event(
            self._run(command, decisions.replace_damaged_card), DamagedCardReplacementApplied
        )

    def record_production(self, command: RecordProduction) -> CardProduced | None:
        """Idempotent: a retry with the same new card number records nothing and returns None."""
        outcome = self.record_production_outcome(command)
        return None if outcome.status == "already_recorded" else _event(outcome, CardProduced)

    def record_production_outcome(self, command: RecordProduction) -> Outcome[DomainEvent]:
        holder_id = self.holder_of_certificate(command.certificate_number)
        if holder_id is None:
            raise NoOpenApplication(
                f"no replacement application carries certificate {command.certificate_number}"
            )
        try:
            return self._write(
                command,
                holder_id,
                lambda holder, ctx: decisions.record_production(
                    require_holder(holder), command, ctx
                ),
                at=command.produced_at,
            )
        except (NoOpenApplication, CertificateMismatch, BeforePreviousEvent):
            # The holder's case moved on since (collected and activated, or a newer case), and
            # a batch row's production time now precedes the holder's latest event.
            earlier = self._production_recorded(holder_id, command)
            if earlier is None:
                raise
            return Outcome(earlier, "already_recorded")

    def _production_recorded(
        self, holder_id: UUID, command: RecordProduction
    ) -> CardProduced | None:
        """The production this command reports, if it was recorded before: a batch row sent
        again is answered "already recorded" whatever became of the card since (collected,
        activated, even replaced again), so re-sending a batch stays safe."""
        number = command.new_card_number.strip().upper()
        for event in self.events.get(holder_id):
            if (
                isinstance(event, CardProduced)
                and event.certificate_number == command.certificate_number
                and event.new_card_number == number
            ):
                return event
        return None

    def record_collection(self, command: RecordCollection) -> CardCollected:
        return _event(self._run(command, decisions.record_collection), CardCollected)

    def activate_card(self, command: ActivateCard) -> CardActivated:
        return _event(self._run(command, decisions.activate_card), CardActivated)

    def erase_holder(self, command: EraseHolder) -> Outcome[DomainEvent]:
        """Record the erasure (``HolderErased``); the composition root then destroys the
        holder's data key. "already recorded" when the holder is erased already."""
        return self._run(command, decisions.erase_holder)

    def lapse_pre_report(
        self, holder_id: UUID, pre_report_version: int, now: datetime | None = None
    ) -> LossPreReportLapsed | None:
        """Raised by the scheduler. Returns None when the pre-report was already dealt with.

        ``now`` given: the lapse is dated then (a tick ``--at``), never in the future and never
        before the holder's previous event; None: the office's clock."""
        outcome = self._write(
            None,
            holder_id,
            lambda holder, ctx: decisions.lapse_pre_report(
                require_holder(holder), pre_report_version, ctx
            ),
            at=now,
        )
        return cast(LossPreReportLapsed | None, outcome.event) if outcome.written else None

    def _handlers(self) -> dict[type[Command], Callable[[Any], Outcome[DomainEvent]]]:
        return {
            IssueCard: self.issue_card_outcome,
            PreReportLoss: lambda c: self._run(c, decisions.pre_report_loss),
            CancelPreReport: lambda c: self._run(c, decisions.cancel_pre_report),
            AuthorizeProxy: lambda c: self._run(c, decisions.authorize_proxy),
            ReportLossFormally: lambda c: self._run(c, decisions.report_loss_formally),
            ReplaceDamagedCard: lambda c: self._run(c, decisions.replace_damaged_card),
            RecordProduction: self.record_production_outcome,
            RecordCollection: lambda c: self._run(c, decisions.record_collection),
            ActivateCard: lambda c: self._run(c, decisions.activate_card),
            EraseHolder: self.erase_holder,
        }

    def _run(self, command: HolderCommand, decide: Callable[..., Any]) -> Outcome[DomainEvent]:
        return self._write(
            command,
            self.holder_id(command.resident_id),
            lambda holder, ctx: decide(require_holder(holder), command, ctx),
        )

    # ---- queries -------------------------------------------------------------------------

    def holder(self, resident_id: str) -> Cardholder:
        return self.holder_by_id(self.holder_id(resident_id))

    def holder_by_id(self, holder_id: UUID, version: int | None = None) -> Cardholder:
        holder = self._load(holder_id, version)
        if holder is None:
            raise HolderNotFound("no cardholder with that resident ID number is registered")
        return holder

    def history(self, resident_id: str) -> list[DomainEvent]:
        """Every event of the holder's stream, oldest first (what the auditor reads)."""
        return self.history_by_id(self.holder_id(resident_id))

    def history_by_id(self, holder_id: UUID) -> list[DomainEvent]:
        """``history`` by the holder's stream id (an erased holder's too: their ID is gone)."""
        events = [e for e in self.events.get(holder_id) if isinstance(e, DomainEvent)]
        if not events:
            raise HolderNotFound("no cardholder with that resident ID number is registered")
        return events


def _event(outcome: Outcome[DomainEvent], cls: type[E]) -> E:
    assert isinstance(outcome.event, cls), outcome
    return outcome.event


def _close_what_was_opened(office: object) -> None:
    """The library's constructor opens its connection pool before it makes its tables: a
    database that drops the connection in between (a restart) leaves a half-made application
    whose pool only the garbage collector would close, from whichever thread it runs in; in a
    pool's own thread that close fails ("cannot join current thread") and prints a traceback.
    Closed here, at once, in the caller's thread."""
    factory = getattr(office, "factory", None)
    if factory is not None:
        # The error that stopped the constructor is the one to tell (a worker waits out a
        # database that is down by its type), not one from closing a pool it left broken.
        with contextlib.suppress(Exception):
            factory.close()
