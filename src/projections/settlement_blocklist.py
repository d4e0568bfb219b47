"""The settlement blocklist: card number -> status, since, reason; and per holder the suspension
windows (start, end, outcome) that reimbursement claims are judged against.

A card's status follows ``domain.settlement.settlement_change``, the very function the relay
uses for the compacted ``sscard.settlement`` topic, so the blocklist a subscriber bootstraps from
that topic and this view agree card for card. Windows follow the one rule the holder's state
follows too (``domain.suspension``, kept by ``projections.suspension_windows``): a window opens
at the first event that suspends settlement and closes at the cancellation, the lapse that
unblocked the card, or the new card's activation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Table, Text, select

from contract.envelope import CARD_EVENTS, Envelope, Feed
from domain.cardholder.events import CARDHOLDER_EVENTS, LapseResult
from domain.settlement import SettlementStatus, settlement_change
from projections.public_fields import Zones, instant
from projections.suspension_windows import (
    SuspensionWindows,
    holders_table_named,
    windows_in,
    windows_table_named,
)
from tracking.envelopes import Part, apply_by_type, by_event_type, prefetch_parts
from tracking.rows import Rows
from tracking.store import Tx, metadata

blocklist_table = Table(
    "sscard_blocklist",
    metadata,
    Column("card_number", Text, primary_key=True),
    Column("stream_id", Text, nullable=False),
    Column("status", Text, nullable=False),  # blocked | active | cancelled
    Column("since", Text, nullable=False),
    Column("reason", Text, nullable=False),
)

holders_table = holders_table_named("sscard_bl_holders")
windows_table = windows_table_named("sscard_suspension_windows")


def _effects() -> dict[tuple[str, str | None], tuple[str, str]]:
    """(event type, lapse result) -> (status, reason), asked once of ``settlement_change`` for
    every event type: the very rule the relay's settlement topic follows."""
    effects = {}
    for cls in CARDHOLDER_EVENTS:
        for result in (None, *(r.value for r in LapseResult)):
            change = settlement_change(cls, "", result)
            if change is not None:
                effects[(cls.__name__, result)] = (change.status.value, change.reason.value)
    return effects


_EFFECTS = _effects()


def _new_cards(envelopes: Sequence[Envelope], rows: Rows) -> None:
    """A card's row is written from the event alone, never read: nothing is loaded. In a
    rebuild, the cards of holders whose first event is in the batch are known new (a card is
    one holder's): inserted rather than upserted."""
    new = rows.streams_beginning
    if not new:  # outside a rebuild, or no holder begins in the batch
        return
    rows.owned_by_new_streams(
        blocklist_table,
        {
            (card,): stream
            for e in envelopes
            if (stream := e["stream_id"]) in new
            and isinstance(card := e["payload"].get("card_number"), str)
        },
    )


class SettlementBlocklist:
    name = "settlement_blocklist"
    feeds: Sequence[Feed] = (CARD_EVENTS,)
    additive: Sequence[Table] = ()
    tables: Sequence[Table] = (blocklist_table, holders_table, windows_table)

    def __init__(self, zones: Zones) -> None:
        self._windows = SuspensionWindows(holders_table, windows_table, zones)
        status = dict.fromkeys((event_type for event_type, _ in _EFFECTS), self._card_status)
        self.parts: Sequence[Part] = (
            Part((blocklist_table,), status, prefetch=_new_cards),
            self._windows.part,
        )
        self._routes = by_event_type(self.parts)

    def prefetch(self, envelopes: Sequence[Envelope], rows: Rows) -> None:
        prefetch_parts(self.parts, envelopes, rows)

    def apply(self, envelope: Envelope, rows: Rows) -> None:
        apply_by_type(self._routes, envelope, rows)

    def _card_status(self, envelope: Envelope, rows: Rows) -> None:
        payload = envelope["payload"]
        effect = _EFFECTS.get((envelope["event_type"], payload.get("result")))
        if effect is None:
            return
        rows.put(
            blocklist_table,
            {
                "card_number": payload["card_number"],
                "stream_id": envelope["stream_id"],
                "status": effect[0],
                "since": instant(envelope["occurred_at"]),
                "reason": effect[1],
            },
        )


# ---- queries -----------------------------------------------------------------------------------


def card_status(tx: Tx, card_number: str) -> dict[str, Any] | None:
    """The card's row: status, since, reason (None for a card the view has never seen)."""
    b = blocklist_table.c
    row = tx.execute(
        select(b.card_number, b.status, b.since, b.reason).where(b.card_number == card_number)
    ).first()
    return None if row is None else dict(row._mapping)


def is_blocked(status: str) -> bool:
    """Every status but active refuses settlement."""
    return status != SettlementStatus.ACTIVE.value


def windows_of(tx: Tx, stream_id: str) -> list[dict[str, Any]]:
    return windows_in(tx, windows_table, stream_id)


def blocklist(tx: Tx) -> dict[str, tuple[str, str, str]]:
    """Every card: (status, since, reason)."""
    b = blocklist_table.c
    return {
        r.card_number: (r.status, r.since, r.reason)
        for r in tx.execute(select(b.card_number, b.status, b.since, b.reason))
    }
