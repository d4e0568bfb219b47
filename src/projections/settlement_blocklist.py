"""The settlement blocklist: card number -> status, since, reason; and per holder the suspension
windows (start, end, outcome) that reimbursement claims are judged against.

A card's status follows ``domain.settlement.settlement_change``, the very function the relay
uses for the compacted ``sscard.settlement`` topic, so the blocklist a subscriber bootstraps from
that topic and this view agree card for card. Windows follow the holder's own rules
(``domain.cardholder.state``): a window opens at the first event that suspends settlement and
closes at the cancellation, the lapse that unblocked the card, or the new card's activation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Index, Integer, Table, Text, select

from domain.cardholder.events import CARDHOLDER_EVENTS, LapseResult
from domain.settlement import SettlementStatus, settlement_change
from projections.public_fields import Zones, instant, local_day
from tracking.envelopes import Envelope
from tracking.rows import Row, Rows
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

holders_table = Table(
    "sscard_bl_holders",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("region_code", Text, nullable=False),
    Column("card_number", Text, nullable=False),  # the holder's card now
    Column("open_window", Integer, nullable=True),  # the version that opened it
)

windows_table = Table(
    "sscard_suspension_windows",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("started_version", Integer, primary_key=True),
    Column("card_number", Text, nullable=False),
    Column("started_at", Text, nullable=False),
    Column("started_on", Text, nullable=False),  # local business dates
    Column("ended_at", Text, nullable=True),
    Column("ended_on", Text, nullable=True),
    # None while open; else pre_report_cancelled | pre_report_lapsed | new_card_activated
    Column("outcome", Text, nullable=True),
    Index("sscard_suspension_windows_card", "card_number"),
)


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

# What opens and what closes a suspension window (as domain.cardholder.state has it).
_SUSPENDS = frozenset({"LossPreReported", "LossFormallyReported", "DamagedCardReplacementApplied"})
_RESUMES = {
    "LossPreReportCancelled": "pre_report_cancelled",
    "CardActivated": "new_card_activated",
}


class SettlementBlocklist:
    name = "settlement_blocklist"
    tables: Sequence[Table] = (blocklist_table, holders_table, windows_table)

    def __init__(self, zones: Zones) -> None:
        self._zones = zones

    def prefetch(self, envelopes: Sequence[Envelope], rows: Rows) -> None:
        streams = {e["stream_id"] for e in envelopes}
        rows.load(holders_table, [(s,) for s in streams])
        cards = {e["payload"].get("card_number") for e in envelopes}
        rows.load(blocklist_table, [(c,) for c in cards if isinstance(c, str)])
        rows.load(
            windows_table,
            [
                (s, h["open_window"])
                for s in streams
                if (h := rows.get(holders_table, (s,))) is not None and h["open_window"] is not None
            ],
        )

    def apply(self, envelope: Envelope, rows: Rows) -> None:
        event_type = envelope["event_type"]
        payload = envelope["payload"]
        if event_type == "CardIssued":
            self._zones(payload["region_code"])
            holder: Row | None = {
                "stream_id": envelope["stream_id"],
                "region_code": payload["region_code"],
                "card_number": payload["card_number"],
                "open_window": None,
            }
        else:
            holder = rows.get(holders_table, (envelope["stream_id"],))
        self._card_status(envelope, rows)
        if holder is None:
            if event_type in _SUSPENDS or event_type in _RESUMES:
                raise ValueError(f"no CardIssued seen for stream {envelope['stream_id']}")
            return
        changed = self._window(envelope, rows, holder)
        if event_type == "CardCollected":
            changed = changed | {"card_number": payload["card_number"]}
        if changed != holder or event_type == "CardIssued":
            rows.put(holders_table, changed)

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

    def _window(self, envelope: Envelope, rows: Rows, holder: Row) -> Row:
        event_type = envelope["event_type"]
        at = envelope["occurred_at"]
        zone = self._zones(holder["region_code"])
        if event_type in _SUSPENDS and holder["open_window"] is None:
            rows.put(
                windows_table,
                {
                    "stream_id": holder["stream_id"],
                    "started_version": envelope["stream_version"],
                    "card_number": holder["card_number"],
                    "started_at": instant(at),
                    "started_on": local_day(at, zone),
                    "ended_at": None,
                    "ended_on": None,
                    "outcome": None,
                },
            )
            return holder | {"open_window": envelope["stream_version"]}
        outcome = _RESUMES.get(event_type)
        if event_type == "LossPreReportLapsed" and envelope["payload"].get("result") == "unblocked":
            outcome = "pre_report_lapsed"
        if outcome is not None and holder["open_window"] is not None:
            window = rows.get(windows_table, (holder["stream_id"], holder["open_window"]))
            if window is not None:
                ended = {"ended_at": instant(at), "ended_on": local_day(at, zone)}
                rows.put(windows_table, window | ended | {"outcome": outcome})
            return holder | {"open_window": None}
        return holder


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
    w = windows_table.c
    rows = tx.execute(
        select(windows_table).where(w.stream_id == stream_id).order_by(w.started_version)
    )
    return [dict(r) for r in rows.mappings()]


def blocklist(tx: Tx) -> dict[str, tuple[str, str, str]]:
    """Every card: (status, since, reason)."""
    b = blocklist_table.c
    return {
        r.card_number: (r.status, r.since, r.reason)
        for r in tx.execute(select(b.card_number, b.status, b.since, b.reason))
    }
