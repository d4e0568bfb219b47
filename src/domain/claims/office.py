"""The claim use cases of the card office: one method each (load, decide, save).

A mixin of ``CardOffice``, so claims live in the same store and the same notification log as the
card lifecycle (one total order for the relay and for every replay). Each command's events are
saved in one transaction through ``_record_claim_events``, the single write path a request-id
mechanism can wrap.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import EventSourcingError

from domain.claims import decisions, rules
from domain.claims.commands import (
    ApproveClaim,
    ClaimCommand,
    ClaimDecision,
    PayClaim,
    RejectClaim,
    SubmitClaim,
    WithdrawClaim,
)
from domain.claims.errors import ClaimNotFound
from domain.claims.events import (
    ClaimEvent,
    InvoiceNumberReserved,
    ReimbursementClaimApproved,
    ReimbursementClaimPaid,
    ReimbursementClaimRejected,
    ReimbursementClaimSubmitted,
    ReimbursementClaimWithdrawn,
    validate_invoice_number,
)
from domain.claims.state import (
    BenefitLedger,
    Claim,
    empty_ledger,
    project_claim,
    project_ledger,
)
from domain.claims.streams import benefit_ledger_id, new_claim_id, plain_invoice_stream_id
from domain.errors import DomainError
from domain.event import DomainEvent
from domain.hospitals import HospitalRegistry, validate_hospital_code
from domain.keyed_digests import keyed_uuid
from domain.requests import RequestLedger, record_request
from domain.write_path import Outcome

if TYPE_CHECKING:
    from domain.cardholder.state import Cardholder
    from domain.region_policy import RegionPolicies

E = TypeVar("E", bound=DomainEvent)
C = TypeVar("C", bound=ClaimEvent)


class ClaimContention(DomainError):
    """The claim or its benefit ledger kept moving under us; the caller may simply try again."""

    code = "concurrent_update"


class ClaimUseCases(RequestLedger):
    """Manual reimbursement of bills paid while the holder's card was blocked."""

    # Approvals of one holder's claims of one year all write the same ledger: allow for a queue.
    MAX_CLAIM_ATTEMPTS = 20
    _hospitals: HospitalRegistry | None = None

    if TYPE_CHECKING:
        # Provided by CardOffice, which this class is mixed into.
        policies: RegionPolicies
        _clock: Callable[[], datetime]

        def holder_id(self, resident_id: str) -> UUID: ...

        def holder_by_id(self, holder_id: UUID, version: int | None = None) -> Cardholder: ...

        def holder_of_certificate(self, certificate_number: str) -> UUID | None: ...

    @property
    def hospitals(self) -> HospitalRegistry:
        """The designated institutions; the composition root sets the operator's registry."""
        if self._hospitals is None:
            self._hospitals = HospitalRegistry.packaged()
        return self._hospitals

    @hospitals.setter
    def hospitals(self, registry: HospitalRegistry) -> None:
        self._hospitals = registry

    # ---- commands ----------------------------------------------------------------------

    def submit_claim(self, command: SubmitClaim) -> ReimbursementClaimSubmitted:
        """File a claim; its invoice is reserved in the same transaction."""
        return _event(self.submit_claim_outcome(command), ReimbursementClaimSubmitted)

    def submit_claim_outcome(self, command: SubmitClaim) -> Outcome[ClaimEvent]:
        return self._answer(command, ReimbursementClaimSubmitted, lambda: self._submit(command))

    def _submit(self, command: SubmitClaim) -> ReimbursementClaimSubmitted:
        holder = self.holder_by_id(self.holder_id(command.resident_id))
        certificate = command.collection_certificate
        submitted, reservation = decisions.submit_claim(
            holder,
            command,
            self._claim_context(holder.region_code),
            claim_id=new_claim_id(),
            hospitals=self.hospitals,
            invoice=self.invoice_reservation(command.hospital_code, command.invoice_number),
            certificate_owner=self.holder_of_certificate(certificate) if certificate else None,
            invoice_key=self.digest_keys.invoice_streams,
        )
        try:
            self._record_claim_events(command, submitted, reservation)
        except EventSourcingError:
            # Another submission of the same invoice committed between our read and our write.
            rules.invoice_not_claimed(
                self.invoice_reservation(reservation.hospital_code, reservation.invoice_number),
                reservation.hospital_code,
                reservation.invoice_number,
            )
            raise
        return submitted

    def approve_claim(self, command: ApproveClaim) -> ReimbursementClaimApproved:
        """Fix the payable amount on the holder's current deductible and cap for the year."""
        return _event(self.approve_claim_outcome(command), ReimbursementClaimApproved)

    def approve_claim_outcome(self, command: ApproveClaim) -> Outcome[ClaimEvent]:
        def decide(claim: Claim, ctx: decisions.ClaimContext) -> Sequence[DomainEvent]:
            treatment_date, _ = rules.claim_readable(claim)
            year = rules.benefit_year_of(treatment_date)
            ledger = self.benefit_ledger(claim.holder_id, year)
            return decisions.approve_claim(claim, ledger, command, ctx)

        return self._decide(command, decide, ReimbursementClaimApproved)

    def reject_claim(self, command: RejectClaim) -> ReimbursementClaimRejected:
        return _event(self.reject_claim_outcome(command), ReimbursementClaimRejected)

    def reject_claim_outcome(self, command: RejectClaim) -> Outcome[ClaimEvent]:
        return self._decide(
            command,
            lambda claim, ctx: [decisions.reject_claim(claim, command, ctx)],
            ReimbursementClaimRejected,
        )

    def pay_claim(self, command: PayClaim) -> ReimbursementClaimPaid:
        return _event(self.pay_claim_outcome(command), ReimbursementClaimPaid)

    def pay_claim_outcome(self, command: PayClaim) -> Outcome[ClaimEvent]:
        return self._decide(
            command,
            lambda claim, ctx: [decisions.pay_claim(claim, command, ctx)],
            ReimbursementClaimPaid,
        )

    def withdraw_claim(self, command: WithdrawClaim) -> ReimbursementClaimWithdrawn:
        return _event(self.withdraw_claim_outcome(command), ReimbursementClaimWithdrawn)

    def withdraw_claim_outcome(self, command: WithdrawClaim) -> Outcome[ClaimEvent]:
        holder_id = self.holder_id(command.resident_id)
        return self._decide(
            command,
            lambda claim, ctx: [decisions.withdraw_claim(claim, holder_id, command, ctx)],
            ReimbursementClaimWithdrawn,
        )

    # ---- queries -------------------------------------------------------------------------

    def claim(self, claim_id: UUID, version: int | None = None) -> Claim:
        try:
            claim = self.repository.get(claim_id, version=version, projector_func=project_claim)
        except (AggregateNotFoundError, ValueError):
            # ValueError: the id names a stream of another kind (a holder's, a ledger's).
            raise ClaimNotFound(f"no claim {claim_id}") from None
        if not isinstance(claim, Claim):  # another kind's state, from the shared cache
            raise ClaimNotFound(f"no claim {claim_id}")
        return claim

    def claim_history(self, claim_id: UUID) -> list[ClaimEvent]:
        events = [e for e in self.events.get(claim_id) if isinstance(e, ClaimEvent)]
        if not events:
            raise ClaimNotFound(f"no claim {claim_id}")
        return events

    def benefit_ledger(self, holder_id: UUID, benefit_year: int) -> BenefitLedger:
        ledger_id = benefit_ledger_id(holder_id, benefit_year)
        try:
            ledger: BenefitLedger = self.repository.get(ledger_id, projector_func=project_ledger)
        except AggregateNotFoundError:
            return empty_ledger(ledger_id, holder_id, benefit_year)
        return ledger

    def invoice_reservation(
        self, hospital_code: str, invoice_number: str
    ) -> InvoiceNumberReserved | None:
        """Which claim holds this invoice, if any (read from the invoice's own stream: the keyed
        one, or in a store not yet migrated, the plain one an older release wrote)."""
        hospital, number = (
            validate_hospital_code(hospital_code),
            validate_invoice_number(invoice_number),
        )
        plain = plain_invoice_stream_id(hospital, number)
        for stream_id in (keyed_uuid(self.digest_keys.invoice_streams, plain), plain):
            for event in self.events.get(stream_id, limit=1):
                assert isinstance(event, InvoiceNumberReserved)
                return event
        return None

    # ---- the one write path --------------------------------------------------------------

    def _record_claim_events(self, command: ClaimCommand, *events: DomainEvent) -> None:
        """All events of one claim command, in one transaction: all recorded or none; with the
        record of its request id, when it has one (its first event answers a retry)."""
        extra = []
        if command.request_id is not None:
            extra.append(record_request(command.request_id, command, events[0], self.digest_keys))
        self.save(*events, *extra)

    def _earlier_answer(self, command: ClaimCommand, expected: type[E]) -> E | None:
        """What an earlier command with this request id recorded (None without one)."""
        if command.request_id is None:
            return None
        earlier = self._answered(command.request_id, command)
        if earlier is None:
            return None
        assert isinstance(earlier, expected)
        return earlier

    def _answer(
        self, command: ClaimCommand, expected: type[C], attempt: Callable[[], C]
    ) -> Outcome[ClaimEvent]:
        """A retry of an earlier request is answered from its record (``repeated``), writing
        nothing. Otherwise ``attempt`` runs; when it is refused (the claim already decided, the
        invoice already claimed) or loses a race because the same request, resent while it ran,
        was recorded meanwhile, the answer is that request's first result, as for any retry."""
        earlier = self._earlier_answer(command, expected)
        if earlier is not None:
            return Outcome(earlier, "repeated")
        try:
            return Outcome(attempt(), "recorded")
        except (DomainError, EventSourcingError):
            earlier = self._earlier_answer(command, expected)
            if earlier is None:
                raise
            return Outcome(earlier, "repeated")

    def _decide(
        self,
        command: ClaimDecision,
        decide: Callable[[Claim, decisions.ClaimContext], Sequence[DomainEvent]],
        expected: type[C],
    ) -> Outcome[ClaimEvent]:
        """Load, decide, save; decided again (bounded) when a concurrent command won the race."""
        return self._answer(
            command, expected, lambda: self._decide_and_save(command, decide, expected)
        )

    def _decide_and_save(
        self,
        command: ClaimDecision,
        decide: Callable[[Claim, decisions.ClaimContext], Sequence[DomainEvent]],
        expected: type[C],
    ) -> C:
        claim_id = command.claim_id
        for _ in range(self.MAX_CLAIM_ATTEMPTS):
            claim = self.claim(claim_id)
            events = decide(claim, self._claim_context(claim.region_code))
            try:
                self._record_claim_events(command, *events)
            except EventSourcingError:
                if any(self._stream_taken(e) for e in events):
                    continue
                raise
            first = events[0]
            assert isinstance(first, expected)
            return first
        raise ClaimContention(
            f"claim {claim_id} or its holder's benefit ledger changed repeatedly while this "
            "command ran; try again"
        )

    def _stream_taken(self, event: DomainEvent) -> bool:
        """Whether another writer already recorded this event's version of its stream."""
        after = event.originator_version - 1
        return any(True for _ in self.events.get(event.originator_id, gt=after, limit=1))

    def _claim_context(self, region_code: str) -> decisions.ClaimContext:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return timezone-aware datetimes")
        return decisions.ClaimContext(
            now=now.astimezone(UTC),
            policy=self.policies.policy_for(region_code),
            new_event_id=uuid.uuid4,
        )


def _event(outcome: Outcome[ClaimEvent], cls: type[C]) -> C:
    assert isinstance(outcome.event, cls), outcome
    return outcome.event
