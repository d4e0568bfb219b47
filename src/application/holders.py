"""What auditors and clerks read about a holder, and the erasure.

Every read gives ID numbers and names masked, unless an auditor reads them in full: the domain
says who may (``domain.unmasked_reads``), and the read is recorded in the store before the
result is built (no record, no read).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from application.card_results import (
    EventResult,
    HistoryEntry,
    HistoryResult,
    HolderReference,
    HolderResult,
    shown_id,
)
from application.cards import event_result
from application.paging import PageRequest, page_of
from domain.cardholder.commands import EraseHolder
from domain.cardholder.errors import HolderNotFound
from domain.cardholder.events import HolderErased
from domain.event import Actor
from domain.identifiers import ResidentId
from domain.unmasked_reads import (
    CaseReference,
    UnmaskedReadReason,
    UnmaskedScope,
    may_read_unmasked,
)
from domain.values import local_instant

if TYPE_CHECKING:  # passed in, never built here (the composition root builds them)
    from domain.application import CardOffice
    from service.bootstrap import BackOffice


class UnmaskedRead(BaseModel):
    """An auditor's request to read ID numbers and names in full, with the stated reason."""

    model_config = ConfigDict(frozen=True)

    auditor: Actor
    reason: UnmaskedReadReason
    reference: CaseReference | None = None


def check_unmasked_read(read: UnmaskedRead | None, allowed_here: bool) -> None:
    """Refuse a reader without the authority before anything is opened or read."""
    if read is not None:
        may_read_unmasked(read.auditor, allowed_here)


def _record_read(
    office: CardOffice,
    read: UnmaskedRead | None,
    holder_id: UUID,
    scope: UnmaskedScope,
    allowed_here: bool,
) -> bool:
    """Record an unmasked read before anything is shown; False for a masked read."""
    if read is None:
        return False
    office.record_unmasked_read(
        holder_id, read.auditor, scope, read.reason, read.reference, allowed_here
    )
    return True


def _stream_of(office: CardOffice, holder: ResidentId | UUID) -> UUID:
    """The holder's stream id: given (the HTTP API's holder reference), or keyed from the ID
    number."""
    return holder if isinstance(holder, UUID) else office.holder_id(holder)


def holder_reference(office: CardOffice, resident_id: ResidentId) -> HolderReference:
    """A registered holder's reference (their stream id); an unknown one is refused."""
    holder = office.holder(resident_id)
    return HolderReference(holder_ref=str(holder.id), holder_id=shown_id(holder.resident_id))


def show_holder(
    office: CardOffice,
    resident_id: ResidentId | UUID,
    *,
    as_of: datetime | None = None,
    read: UnmaskedRead | None = None,
    allowed_here: bool = False,
) -> HolderResult:
    """The holder's state now, or as it was at ``as_of`` (refused when they had no record yet)."""
    check_unmasked_read(read, allowed_here)
    stream_id = _stream_of(office, resident_id)
    holder = office.holder_by_id(stream_id)
    zone = office.policies.policy_for(holder.region_code).zone
    if as_of is not None:
        versions = [e for e in office.history_by_id(stream_id) if e.occurred_at <= as_of]
        if not versions:
            raise HolderNotFound(f"the holder had no record yet on {local_instant(as_of, zone)}")
        holder = office.holder_by_id(holder.id, versions[-1].originator_version)
    unmasked = _record_read(office, read, holder.id, UnmaskedScope.STATE, allowed_here)
    return HolderResult.of(holder, zone, unmasked, as_of)


def holder_history(
    office: CardOffice,
    resident_id: ResidentId | UUID,
    *,
    as_of: datetime | None = None,
    read: UnmaskedRead | None = None,
    allowed_here: bool = False,
    paging: PageRequest | None = None,
) -> HistoryResult:
    """Every event of the holder, oldest first, in the region's time (with ``as_of``: those
    recorded up to that instant; refused when the holder had no record yet)."""
    check_unmasked_read(read, allowed_here)
    events = office.history_by_id(_stream_of(office, resident_id))
    holder = office.holder_by_id(events[0].originator_id)
    zone = office.policies.policy_for(holder.region_code).zone
    if as_of is not None:
        events = [e for e in events if e.occurred_at <= as_of]
        if not events:
            raise HolderNotFound(f"the holder had no record yet on {local_instant(as_of, zone)}")
    unmasked = _record_read(office, read, holder.id, UnmaskedScope.HISTORY, allowed_here)
    holder_id = shown_id(holder.resident_id, unmasked)
    shown, paged = page_of(events, paging)
    return HistoryResult(
        unmasked=unmasked,
        entries=[HistoryEntry.of(event, zone, holder_id, unmasked) for event in shown],
        time_zone=zone.key,
        **paged.model_dump(),
    )


def erasure_on_record(office: CardOffice, holder_id: UUID) -> EventResult:
    """An erased holder asked to be erased again by their stream id (their ID number is gone):
    ``already_recorded``, with the erasure that holds it."""
    from domain.write_path import Outcome  # noqa: PLC0415 (loads the event store library)

    history = office.history_by_id(holder_id)
    erasure = next(e for e in reversed(history) if isinstance(e, HolderErased))
    return event_result(office, Outcome(erasure, "already_recorded"))


def erase_holder(backoffice: BackOffice, command: EraseHolder) -> EventResult:
    """Record the erasure, then destroy the holder's data key (``store.erasure``)."""
    # The store's key destruction loads the database drivers: only when an erasure runs.
    from store.erasure import erase_holder as erase  # noqa: PLC0415

    outcome = erase(backoffice, command)
    result = event_result(backoffice.office, outcome)
    if result.holder_id is None:
        result = result.model_copy(update={"holder_id": shown_id(command.resident_id)})
    return result
