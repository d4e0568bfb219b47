"""Reading a holder's ID numbers and names in full: who may, and the record each such read leaves.

Everywhere else people see ID numbers and names masked. An auditor may read them unmasked, for a
stated reason, where the configuration allows it (``SSCARD_ALLOW_UNMASKED``); the read itself
is then recorded in the store (who, when, which holder, what was read, why), so that a later
auditor can list every disclosure of a person's data (PIPL art. 51: the processor records how
personal information is handled). The record is internal bookkeeping: it has no public form
and is never published, and it holds no personal field (the holder is named by the keyed stream
id only).

A read that cannot be recorded (a full disk, a store that refuses writes) is not shown: the
record is saved before the data leaves the office.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from eventsourcing.application import Application
from pydantic import AfterValidator, Field

from domain.errors import RuleViolation
from domain.event import FIRST_VERSION, Actor, DomainEvent, Role


def _not_an_id_number(reference: str) -> str:
    """A reference sits in clear in the store: a run of digits as long as an ID number (15 or
    18 characters) could be one, and is refused."""
    if re.search(r"\d{15}", reference):
        raise ValueError("a reference holds a case number, never an ID number")
    return reference


# A case or file number the auditor works under: letters, digits and a few separators, never
# a person's data (names and ID numbers have no place in it).
CaseReference = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$"),
    AfterValidator(_not_an_id_number),
]


class UnmaskedReadReason(StrEnum):
    """Why an auditor needs a person's data in full."""

    AUDIT = "audit"  # a scheduled or targeted audit of the office's work
    HOLDER_REQUEST = "holder_request"  # the holder asked to see their own record (PIPL art. 45)
    LEGAL_ORDER = "legal_order"  # a court, the police or a supervising authority
    FRAUD_INVESTIGATION = "fraud_investigation"  # a card or claim suspected of fraud
    DATA_CORRECTION = "data_correction"  # checking a record the holder says is wrong


class UnmaskedScope(StrEnum):
    """What was read in full."""

    STATE = "state"  # the holder's state (holder show)
    HISTORY = "history"  # every event of the holder (holder history)


class UnmaskedForbidden(RuleViolation):
    code = "unmasked_forbidden"


class UnmaskedRead(DomainEvent):
    """Internal bookkeeping (never published): ``actor`` read the personal data of the holder
    whose stream is ``holder_id`` in full, ``scope``, for ``reason``."""

    holder_id: UUID
    scope: UnmaskedScope
    reason: UnmaskedReadReason
    reference: CaseReference | None = None


def may_read_unmasked(actor: Actor, allowed_here: bool) -> None:
    """Only an auditor reads ID numbers and names in full, and only where the operator allows
    it (production forbids it unless ``SSCARD_ALLOW_UNMASKED=true``)."""
    if not allowed_here:
        raise UnmaskedForbidden(
            "unmasked reads are forbidden by the configuration (SSCARD_ALLOW_UNMASKED)"
        )
    if actor.role is not Role.AUDITOR:
        raise UnmaskedForbidden(
            f"only an auditor reads ID numbers and names in full, not a {actor.role.value}"
        )


class UnmaskedReadLedger(Application[UUID]):
    """Records each unmasked read before it is shown, and lists them for auditors."""

    _clock: Callable[[], datetime]

    def record_unmasked_read(
        self,
        holder_id: UUID,
        actor: Actor,
        scope: UnmaskedScope,
        reason: UnmaskedReadReason,
        reference: str | None,
        allowed_here: bool,
    ) -> UnmaskedRead:
        """Check the reader's authority and record the read (a one-event stream of its own, so
        that the holder's stream and its published versions are untouched)."""
        may_read_unmasked(actor, allowed_here)
        read = UnmaskedRead(
            originator_id=uuid.uuid4(),
            originator_version=FIRST_VERSION,
            event_id=uuid.uuid4(),
            occurred_at=self._clock(),
            actor=actor,
            holder_id=holder_id,
            scope=scope,
            reason=reason,
            reference=reference,
        )
        self.save(read)
        return read

    def unmasked_reads(self, holder_id: UUID | None = None) -> list[UnmaskedRead]:
        """Every recorded unmasked read, oldest first; of one holder when ``holder_id`` is
        given. Read from the notification log by the record's topic."""
        topic = f"{UnmaskedRead.__module__}:{UnmaskedRead.__qualname__}"  # as the store names it
        found: list[UnmaskedRead] = []
        start = 1
        while True:
            batch = self.recorder.select_notifications(start, 1000, topics=(topic,))
            if not batch:
                return found
            for notification in batch:
                event = self.mapper.to_domain_event(notification)
                assert isinstance(event, UnmaskedRead)
                if holder_id is None or event.holder_id == holder_id:
                    found.append(event)
            start = batch[-1].id + 1
