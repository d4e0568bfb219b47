"""When a holder cannot settle with a card: the suspension windows that reimbursement claims are
judged against.

One rule, by event type, read by the holder's state (``domain.cardholder.state``) and by every
read model that keeps windows (``projections.suspension_windows``), which sees envelopes and so
event type names, never events: the two cannot drift apart. A window opens at the first event
that suspends settlement and closes at the cancellation of the pre-report, at a lapse that
unblocked the card, or at the activation of the new card. A lapse that cancelled the card leaves
the window open until the new card.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from domain.cardholder.events import (
    CardActivated,
    DamagedCardReplacementApplied,
    LapseResult,
    LossFormallyReported,
    LossPreReportCancelled,
    LossPreReported,
    LossPreReportLapsed,
)


class WindowEnd(StrEnum):
    """What closed a suspension window."""

    PRE_REPORT_CANCELLED = "pre_report_cancelled"
    PRE_REPORT_LAPSED = "pre_report_lapsed"
    NEW_CARD_ACTIVATED = "new_card_activated"


OPENS: Literal["opens"] = "opens"
WindowChange = Literal["opens"] | WindowEnd

_OPENING = frozenset(
    cls.__name__ for cls in (LossPreReported, LossFormallyReported, DamagedCardReplacementApplied)
)
_CLOSING = {
    LossPreReportCancelled.__name__: WindowEnd.PRE_REPORT_CANCELLED,
    CardActivated.__name__: WindowEnd.NEW_CARD_ACTIVATED,
}


def window_change(event_type: str, lapse_result: str | None = None) -> WindowChange | None:
    """What an event of ``event_type`` does to the holder's suspension window: opens one (if
    none is open), closes the open one (and how), or nothing. A lapse's effect depends on its
    ``lapse_result``."""
    if event_type in _OPENING:
        return OPENS
    if event_type == LossPreReportLapsed.__name__:
        return WindowEnd.PRE_REPORT_LAPSED if lapse_result == LapseResult.UNBLOCKED else None
    return _CLOSING.get(event_type)
