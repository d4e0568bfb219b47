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


def settlement_changes(event: DomainEvent) -> tuple[SettlementChange, ...]:
    """The card statuses an event sets (none for events that do not touch settlement)."""
    match event:
        case CardIssued():
            change = (event.card_number, SettlementStatus.ACTIVE, SettlementReason.CARD_ISSUED)
        case LossPreReported():
            change = (
                event.card_number,
                SettlementStatus.BLOCKED,
                SettlementReason.LOSS_PRE_REPORTED,
            )
        case LossPreReportCancelled():
            change = (
                event.card_number,
                SettlementStatus.ACTIVE,
                SettlementReason.PRE_REPORT_CANCELLED,
            )
        case LossPreReportLapsed():
            status = (
                SettlementStatus.ACTIVE
                if event.result is LapseResult.UNBLOCKED
                else SettlementStatus.CANCELLED
            )
            change = (event.card_number, status, SettlementReason.PRE_REPORT_LAPSED)
        case LossFormallyReported():
            change = (
                event.card_number,
                SettlementStatus.CANCELLED,
                SettlementReason.LOSS_FORMALLY_REPORTED,
            )
        case DamagedCardReplacementApplied():
            # The damaged card settled until the holder handed it in; it never comes back.
            change = (
                event.card_number,
                SettlementStatus.CANCELLED,
                SettlementReason.DAMAGED_CARD_SURRENDERED,
            )
        case CardCollected():
            change = (event.card_number, SettlementStatus.BLOCKED, SettlementReason.NEW_CARD_SEALED)
        case CardActivated():
            change = (
                event.card_number,
                SettlementStatus.ACTIVE,
                SettlementReason.NEW_CARD_ACTIVATED,
            )
        case _:
            return ()
    return (SettlementChange(*change),)
