"""Per holder, the suspension windows (start, end, outcome) that reimbursement claims are judged
against, as two tables a view owns: its holders (region, card now, the open window) and their
windows. The settlement blocklist and the claims view each keep their own pair (a view owns its
tables), by these same rules.

Windows follow the one rule the holder's state follows too (``domain.suspension``): a window
opens at the first event that suspends settlement and closes at the cancellation, the lapse that
unblocked the card, or the new card's activation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Index, Integer, Table, Text, select

from contract.envelope import Envelope
from domain.cardholder.events import CARDHOLDER_EVENTS, LapseResult
from domain.suspension import OPENS, WindowEnd, window_change
from projections.public_fields import Zones, instant, local_day
from tracking.envelopes import Part
from tracking.rows import Row, Rows
from tracking.store import Tx, metadata


def holders_table_named(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("stream_id", Text, primary_key=True),
        Column("region_code", Text, nullable=False),
        Column("card_number", Text, nullable=False),  # the holder's card now
        Column("open_window", Integer, nullable=True),  # the version that opened it
    )


def windows_table_named(name: str) -> Table:
    return Table(
        name,
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
        Index(f"{name}_card", "card_number"),
    )


def _window_types() -> frozenset[str]:
    """The event types that open or close a window (for some lapse result), asked once of the
    rule: any other event but the issue and the collection changes nothing here."""
    results = (None, *(r.value for r in LapseResult))
    return frozenset(
        cls.__name__
        for cls in CARDHOLDER_EVENTS
        for result in results
        if window_change(cls.__name__, result) is not None
    )


# The events the windows read: those of the rule, the issue (the holder's region and card) and
# the collection (the holder's card now).
READS = _window_types() | {"CardIssued", "CardCollected"}


class SuspensionWindows:
    """Keeps one view's holders and windows tables from the card events."""

    def __init__(self, holders: Table, windows: Table, zones: Zones) -> None:
        self.holders = holders
        self.windows = windows
        self._zones = zones
        # Two views' windows built on the same zones are the same rows under other names.
        self.part = Part(
            (holders, windows),
            dict.fromkeys(READS, self.apply),
            ("suspension windows", zones),
            prefetch=self.prefetch,
        )

    @property
    def tables(self) -> tuple[Table, Table]:
        return (self.holders, self.windows)

    def prefetch(self, envelopes: Sequence[Envelope], rows: Rows) -> None:
        """The batch's holders (of the events the windows read), and their open windows."""
        streams = {e["stream_id"] for e in envelopes if e["event_type"] in READS}
        rows.load(self.holders, [(s,) for s in streams])
        rows.load(
            self.windows,
            [
                (s, h["open_window"])
                for s in streams
                if (h := rows.peek(self.holders, (s,))) is not None and h["open_window"] is not None
            ],
        )

    def apply(self, envelope: Envelope, rows: Rows) -> None:
        """Open, close or leave the holder's window; a holder whose ``CardIssued`` the view
        never saw cannot have a window opened or closed (the event is refused)."""
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
            holder = rows.peek(self.holders, (envelope["stream_id"],))
        if holder is None:
            if window_change(event_type, payload.get("result")) is not None:
                raise ValueError(f"no CardIssued seen for stream {envelope['stream_id']}")
            return
        changed = self._window(envelope, rows, holder)
        if event_type == "CardCollected":
            changed = changed | {"card_number": payload["card_number"]}
        if changed != holder or event_type == "CardIssued":
            rows.put(self.holders, changed)

    def _window(self, envelope: Envelope, rows: Rows, holder: Row) -> Row:
        event_type = envelope["event_type"]
        at = envelope["occurred_at"]
        zone = self._zones(holder["region_code"])
        change = window_change(event_type, envelope["payload"].get("result"))
        if change == OPENS and holder["open_window"] is None:
            rows.create(
                self.windows,
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
        if isinstance(change, WindowEnd) and holder["open_window"] is not None:
            window = rows.peek(self.windows, (holder["stream_id"], holder["open_window"]))
            if window is not None:
                ended = {"ended_at": instant(at), "ended_on": local_day(at, zone)}
                rows.put(self.windows, window | ended | {"outcome": change.value})
            return holder | {"open_window": None}
        return holder


def windows_in(tx: Tx, windows: Table, stream_id: str) -> list[dict[str, Any]]:
    w = windows.c
    rows = tx.execute(select(windows).where(w.stream_id == stream_id).order_by(w.started_version))
    return [dict(r) for r in rows.mappings()]
