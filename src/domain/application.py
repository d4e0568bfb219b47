"""The card office: one method per use case (load the holder, decide, save), on ``eventsourcing``.

Persistence (SQLite or PostgreSQL), the mapper and the transcoder come from the environment the
composition root passes in; nothing here knows which database it writes to.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar, cast
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import EventSourcingError

from domain.cardholder import decisions
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
from domain.cardholder.errors import (
    CardNumberInUse,
    HolderNotFound,
    NoOpenApplication,
)
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
from domain.cardholder.state import Cardholder, project
from domain.errors import DomainError, InvalidInput, RuleViolation
from domain.event import DomainEvent, same_fact
from domain.identifiers import (
    holder_stream_id,
    validate_card_number,
    validate_resident_id,
)
from domain.outlets import OutletRegistry
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
from domain.requests import (
    RequestIdReused,
    RequestRecorded,
    fingerprint,
    record_request,
    request_stream_id,
)
from domain.values import check_not_future
from domain.working_days import WorkingCalendar

E = TypeVar("E", bound=DomainEvent)
Decide = Callable[[Cardholder | None, decisions.Context], DomainEvent | None]


class ConcurrentUpdateError(DomainError):
    """The holder's stream kept moving under us; the caller may simply try again."""

    code = "concurrent_update"


def utc_now() -> datetime:
    return datetime.now(UTC)


def random_certificate_number(region_code: str) -> str:
    """Printed on the collection certificate; random so it cannot be guessed from another."""
    return f"{region_code}-{secrets.randbelow(10**10):010d}"


Status = Literal["recorded", "repeated", "already_recorded"]


@dataclass(frozen=True)
class Outcome(Generic[E]):
    """What a command did.

    ``recorded``: ``event`` was just written. ``repeated``: a retry with the request id of an
    earlier command; ``event`` is what that command recorded and nothing was written.
    ``already_recorded``: the command would have recorded the same fact as the holder's latest
    event (``event``, or None when the rule itself says so); nothing was written."""

    event: E | None
    status: Status

    @property
    def written(self) -> bool:
        return self.status == "recorded"


class CardOffice(Application[UUID]):
    """Use cases of the loss-reporting and replacement back office."""

    name = "CardOffice"
    HOLDER_ID_KEY = "HOLDER_ID_KEY"
    MAX_ATTEMPTS = 5

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
        super().__init__(env)
        key = self.env.get(self.HOLDER_ID_KEY)
        if not key:
            raise ValueError(
                f"{self.name} needs {self.HOLDER_ID_KEY} (the key that turns resident ID "
                "numbers into holder stream ids)"
            )
        self._holder_id_key = key.encode("utf-8")
        self.policies = policies or RegionPolicies.packaged()
        self.outlets = outlets or OutletRegistry.packaged()
        self.calendar = calendar
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
        return self._write(
            command,
            holder_id,
            lambda holder, ctx: decisions.record_production(_held(holder), command, ctx),
            at=command.produced_at,
        )

    def record_collection(self, command: RecordCollection) -> CardCollected:
        return _event(self._run(command, decisions.record_collection), CardCollected)

    def activate_card(self, command: ActivateCard) -> CardActivated:
        return _event(self._run(command, decisions.activate_card), CardActivated)

    def lapse_pre_report(
        self, holder_id: UUID, pre_report_version: int, now: datetime | None = None
    ) -> LossPreReportLapsed | None:
        """Raised by the scheduler. Returns None when the pre-report was already dealt with.

        ``now`` given: the lapse is dated then (a tick ``--at``), never in the future and never
        before the holder's previous event; None: the office's clock."""
        outcome = self._write(
            None,
            holder_id,
            lambda holder, ctx: decisions.lapse_pre_report(_held(holder), pre_report_version, ctx),
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
        }

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
        holder_id = self.holder_id(resident_id)
        events = [e for e in self.events.get(holder_id) if isinstance(e, DomainEvent)]
        if not events:
            raise HolderNotFound("no cardholder with that resident ID number is registered")
        return events

    def _load(self, holder_id: UUID, version: int | None = None) -> Cardholder | None:
        try:
            holder: Cardholder = self.repository.get(
                holder_id, version=version, projector_func=project
            )
        except AggregateNotFoundError:
            return None
        if version is None and self.repository.cache is not None:
            # The library fast-forwards a cached state but keeps the old one in its cache (it
            # expects aggregates mutated in place; ours are immutable), so every load would
            # re-read everything since the first: keep the state just brought up to date.
            self.repository.cache.put(holder_id, holder)
        return holder

    # ---- the one write path ------------------------------------------------------------

    def _run(self, command: HolderCommand, decide: Callable[..., Any]) -> Outcome[DomainEvent]:
        return self._write(
            command,
            self.holder_id(command.resident_id),
            lambda holder, ctx: decide(_held(holder), command, ctx),
        )

    def _write(
        self,
        command: Command | None,
        holder_id: UUID,
        decide: Decide,
        *,
        at: datetime | None = None,
        region_code: str | None = None,
    ) -> Outcome[DomainEvent]:
        """Load, decide, save, all or nothing; retried (bounded) when a concurrent command won.

        Every command passes here, so the rules that hold for all of them live here once: the
        outlets it names exist; a request id is answered from its record; a command that would
        record the holder's latest fact again records nothing; no event is dated in the future
        or before its predecessor."""
        if command is not None:
            for code in command.outlet_codes():
                self.outlets.outlet(code)
        request_id = command.request_id if command is not None else None
        for _ in range(self.MAX_ATTEMPTS):
            if command is not None and request_id is not None:
                earlier = self._answered(request_id, command)
                if earlier is not None:
                    return Outcome(earlier, "repeated")
            holder = self._load(holder_id)
            if holder is None and region_code is None:
                raise HolderNotFound("no cardholder with that resident ID number is registered")
            ctx = self._context(region_code or _held(holder).region_code, holder, at)
            try:
                event = decide(holder, ctx)
            except RuleViolation:
                repeat = self._repeat_of_latest(holder, decide, ctx)
                if repeat is None:
                    raise
                return self._already_recorded(repeat, command)
            if event is None:
                return Outcome(None, "already_recorded")
            if holder is not None and same_fact(event, holder.last_event):
                return self._already_recorded(holder.last_event, command)
            extra: list[DomainEvent] = list(self._reservations(event, holder_id))
            if command is not None and request_id is not None:
                extra.append(record_request(request_id, command, event))
            try:
                self.save(event, *extra)
            except EventSourcingError:
                if self._collided(holder_id, holder, extra):
                    continue
                raise
            return Outcome(event, "recorded")
        raise ConcurrentUpdateError(
            "the cardholder's record changed repeatedly while this command ran; try again"
        )

    def _already_recorded(
        self, event: DomainEvent | None, command: Command | None
    ) -> Outcome[DomainEvent]:
        """A repeat of the latest fact; but if the same request raced us and won, its answer
        is the first result itself (what the client must see on a retry)."""
        if command is not None and command.request_id is not None:
            earlier = self._answered(command.request_id, command)
            if earlier is not None:
                return Outcome(earlier, "repeated")
        return Outcome(event, "already_recorded")

    def _collided(
        self, holder_id: UUID, holder: Cardholder | None, extra: Sequence[DomainEvent]
    ) -> bool:
        """After a failed save: True when trying again can succeed (another command won the
        race, a random certificate number was taken); raises when a card number is taken."""
        version = holder.version if holder is not None else 0
        if self._stream_moved_on(holder_id, version):
            return True
        for record in extra:
            # A random certificate number collided, or the same request raced this one.
            if isinstance(
                record, CertificateNumberReserved | RequestRecorded
            ) and self._stream_exists(record.originator_id):
                return True
            if isinstance(record, CardNumberReserved):
                self._raise_if_card_taken(record.card_number)
        return False

    def _answered(self, request_id: str, command: Command) -> DomainEvent | None:
        """The event an earlier command with this request id recorded, or None if none did."""
        for record in self.events.get(request_stream_id(request_id), limit=1):
            assert isinstance(record, RequestRecorded)
            if record.fingerprint != fingerprint(command):
                raise RequestIdReused(
                    f"request id {request_id!r} was already used for a different "
                    f"{record.command_type} command; use a new id for a new request"
                )
            for event in self.events.get(
                record.holder_id, gt=record.event_version - 1, lte=record.event_version
            ):
                assert isinstance(event, DomainEvent)
                return event
        return None

    def _repeat_of_latest(
        self, holder: Cardholder | None, decide: Decide, ctx: decisions.Context
    ) -> DomainEvent | None:
        """A refused command that is a plain repeat (the holder's latest event is the very fact
        it would have recorded one step earlier) is answered "already recorded", so a client
        that retries without a request id can tell its own first success from a refusal."""
        if holder is None or holder.last_event is None:
            return None
        earlier = self._load(holder.id, holder.version - 1) if holder.version > 1 else None
        try:
            candidate = decide(earlier, ctx)
        except DomainError:
            return None
        return holder.last_event if candidate and same_fact(candidate, holder.last_event) else None

    def _context(
        self, region_code: str, holder: Cardholder | None, at: datetime | None
    ) -> decisions.Context:
        return decisions.Context(
            now=self._event_time(holder, at),
            policy=self.policies.policy_for(region_code),
            outlets=self.outlets,
            calendar=self.calendar,
            new_event_id=uuid.uuid4,
            new_certificate_number=self._certificate_numbers,
        )

    def _event_time(self, holder: Cardholder | None, at: datetime | None) -> datetime:
        """When the new event is dated. An instant given by hand (a tick ``--at``, a batch's
        production time) is refused in the future or before the holder's previous event; the
        office's own clock, if it steps back (NTP), is held at the previous event instead: the
        command is genuine, only the clock is late, and stream order must hold."""
        clock = self._clock()
        if clock.tzinfo is None:
            raise ValueError("the clock must return timezone-aware datetimes")
        clock = clock.astimezone(UTC)
        previous = holder.updated_at if holder is not None else None
        if at is None:
            return max(clock, previous) if previous is not None else clock
        at = check_not_future(at.astimezone(UTC), clock)
        if previous is not None and at < previous:
            raise InvalidInput(
                f"{at.isoformat()} is before the holder's previous event "
                f"({previous.isoformat()}); events are recorded in order"
            )
        return at

    def _reservations(self, event: DomainEvent, holder_id: UUID) -> Sequence[Reservation]:
        """Numbers the event introduces, reserved in the same transaction."""
        if isinstance(event, CardIssued):
            return [
                reserve_card_number(event.card_number, holder_id, event.occurred_at, event.actor)
            ]
        if isinstance(event, CardProduced):
            return [
                reserve_card_number(
                    event.new_card_number, holder_id, event.occurred_at, event.actor
                )
            ]
        if isinstance(event, LossFormallyReported | DamagedCardReplacementApplied):
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


def _held(holder: Cardholder | None) -> Cardholder:
    if holder is None:
        raise HolderNotFound("no cardholder with that resident ID number is registered")
    return holder


def _event(outcome: Outcome[DomainEvent], cls: type[E]) -> E:
    assert isinstance(outcome.event, cls), outcome
    return outcome.event
