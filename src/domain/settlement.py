"""What each card event means for settlement: which card may (or may not) be used, from when.

Settlement systems (hospital and pharmacy HIS, the medical-insurance platform) key everything by
card number and never see an ID number, so this view of the lifecycle is the one they get.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.cardholder.events import (
    CardActivated,
    CardCollected,
    CardIssued,
    DamagedCardReplacementApplied,
    LapseResult,
    LossFormallyReported,
    LossPreReportCancelled,
    LossPreReported,
    LossPreReportLapsed,
)
from domain.event import DomainEvent


class SettlementStatus(StrEnum):
    BLOCKED = "blocked"  # refuse now; may come back (pre-report, sealed new card)
    ACTIVE = "active"  # accept
    CANCELLED = "cancelled"  # refuse for good (formally lost, or cancelled by a lapse)


class SettlementReason(StrEnum):
    CARD_ISSUED = "card_issued"
    LOSS_PRE_REPORTED = "loss_pre_reported"
    PRE_REPORT_CANCELLED = "pre_report_cancelled"
    PRE_REPORT_LAPSED = "pre_report_lapsed"
    LOSS_FORMALLY_REPORTED = "loss_formally_reported"
    DAMAGED_CARD_SURRENDERED = "damaged_card_surrendered"
    NEW_CARD_SEALED = "new_card_sealed"
    NEW_CARD_ACTIVATED = "new_card_activated"


@dataclass(frozen=True, slots=True)
class SettlementChange:
    card_number: str
    status: SettlementStatus
    reason: SettlementReason


# What each event type does to settlement on its card (a lapse depends on its result).
_EFFECTS: dict[type[DomainEvent], tuple[SettlementStatus, SettlementReason]] = {
    CardIssued: (SettlementStatus.ACTIVE, SettlementReason.CARD_ISSUED),
    LossPreReported: (SettlementStatus.BLOCKED, SettlementReason.LOSS_PRE_REPORTED),
    LossPreReportCancelled: (SettlementStatus.ACTIVE, SettlementReason.PRE_REPORT_CANCELLED),
    LossPreReportLapsed: (SettlementStatus.ACTIVE, SettlementReason.PRE_REPORT_LAPSED),
    LossFormallyReported: (SettlementStatus.CANCELLED, SettlementReason.LOSS_FORMALLY_REPORTED),
    # The damaged card settled until the holder handed it in; it never comes back.
    DamagedCardReplacementApplied: (
        SettlementStatus.CANCELLED,
        SettlementReason.DAMAGED_CARD_SURRENDERED,
    ),
    CardCollected: (SettlementStatus.BLOCKED, SettlementReason.NEW_CARD_SEALED),
    CardActivated: (SettlementStatus.ACTIVE, SettlementReason.NEW_CARD_ACTIVATED),
}


def settlement_change(
    event_type: type[DomainEvent], card_number: str, lapse_result: str | None = None
) -> SettlementChange | None:
    """The card status an event of ``event_type`` sets, from the event's own facts (its card
    number, and for a lapse its result), or None for events that do not touch settlement.

    Takes the facts rather than the event so that the relay can ask it of a stored event's
    JSON form without rebuilding the event."""
    effect = _EFFECTS.get(event_type)
    if effect is None:
        return None
    status, reason = effect
    if event_type is LossPreReportLapsed and lapse_result != LapseResult.UNBLOCKED:
        status = SettlementStatus.CANCELLED
    return SettlementChange(card_number, status, reason)


def settlement_changes(event: DomainEvent) -> tuple[SettlementChange, ...]:
    """The card statuses an event sets (none for events that do not touch settlement)."""
    change = settlement_change(
        type(event), getattr(event, "card_number", ""), getattr(event, "result", None)
    )
    return () if change is None else (change,)
