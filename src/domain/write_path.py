"""The one write path every command of the card office takes: load, decide, save.

What holds for every command lives here once: the outlets it names exist; a client request id
is answered from its record and recorded with the event; a command that would record the
holder's latest fact again records nothing; no event is dated in the future or before its
predecessor; a save that lost a race is retried, bounded.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Generic, Literal, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import EventSourcingError

from domain.cardholder import decisions, rules
from domain.cardholder.commands import Command, EraseHolder
from domain.cardholder.errors import CardNumberInUse, HolderNotFound
from domain.cardholder.events import (
    CardIssued,
    CardProduced,
    DamagedCardReplacementApplied,
    LossFormallyReported,
)
from domain.cardholder.state import Cardholder, project
from domain.errors import DomainError, InvalidInput, RuleViolation
from domain.event import DomainEvent, same_fact
from domain.outlets import OutletRegistry
from domain.references import (
    CardNumberReserved,
    CertificateNumberReserved,
    Reservation,
    card_number_stream_id,
    reserve_card_number,
    reserve_certificate,
)
from domain.region_policy import RegionPolicies
from domain.requests import RequestLedger, RequestRecorded, record_request
from domain.values import check_not_future, local_instant
from domain.working_days import WorkingCalendar

E = TypeVar("E", bound=DomainEvent)
Decide = Callable[[Cardholder | None, decisions.Context], DomainEvent | None]


class ConcurrentUpdateError(DomainError):
    """The holder's stream kept moving under us; the caller may simply try again."""

    code = "concurrent_update"


class BeforePreviousEvent(InvalidInput):
    """An instant given by hand precedes the holder's latest event: events are kept in order."""


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
    event (``event``, or None when the rule itself says so); nothing was written.
    ``position``: where a just recorded event sits in the store's log (None otherwise)."""

    event: E | None
    status: Status
    # The event's place in the store's log, when the save just told it (``recorded``).
    position: int | None = None

    @property
    def written(self) -> bool:
        return self.status == "recorded"


class WritePath(RequestLedger):
    """The card office's load-decide-save, shared by all its use cases."""

    MAX_ATTEMPTS = 5
    policies: RegionPolicies
    outlets: OutletRegistry
    calendar: WorkingCalendar
    _clock: Callable[[], datetime]
    _certificate_numbers: Callable[[str], str]

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
            ctx = self._context(region_code or require_holder(holder).region_code, holder, at)
            if holder is not None and command is not None and not isinstance(command, EraseHolder):
                # System acts (a pre-report lapsing at its deadline) still run: they change
                # the card, not the person, and keep the card's state true to policy.
                rules.not_erased(holder, ctx.policy.zone)
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
                extra.append(record_request(request_id, command, event, self.digest_keys))
            try:
                recordings = self.save(event, *extra)
            except EventSourcingError:
                if self._collided(holder_id, holder, extra):
                    continue
                raise
            # The event is saved first: its recording carries its notification id.
            position = recordings[0].notification.id if recordings else None
            return Outcome(event, "recorded", position)
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
        policy = self.policies.policy_for(region_code)
        return decisions.Context(
            now=self._event_time(holder, at, policy.zone),
            policy=policy,
            outlets=self.outlets,
            calendar=self.calendar,
            new_event_id=uuid.uuid4,
            new_certificate_number=self._certificate_numbers,
        )

    def _event_time(self, holder: Cardholder | None, at: datetime | None, zone: tzinfo) -> datetime:
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
        at = check_not_future(at.astimezone(UTC), clock, zone)
        if previous is not None and at < previous:
            raise BeforePreviousEvent(
                f"{local_instant(at, zone)} is before the holder's previous event "
                f"({local_instant(previous, zone)}); events are recorded in order"
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


def require_holder(holder: Cardholder | None) -> Cardholder:
    if holder is None:
        raise HolderNotFound("no cardholder with that resident ID number is registered")
    return holder
