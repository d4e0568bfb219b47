"""Open pre-reports and when they lapse: what the lapse scheduler asks "who is due now?".

Rebuilt from the store like any view, so the schedule survives downtime: whatever came due while
the back office was down is found on the next tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import Column, Index, Integer, Table, Text, func, select

from contract.envelope import CARD_EVENTS, Envelope, Feed
from projections.public_fields import instant, instant_of, stored_instant
from tracking.envelopes import Part
from tracking.rows import Rows
from tracking.store import Tx, metadata

schedule_table = Table(
    "sscard_lapse_schedule",
    metadata,
    Column("holder_id", Text, primary_key=True),
    Column("pre_report_version", Integer, primary_key=True),
    # A sortable text form of a UTC instant, identical on SQLite and PostgreSQL.
    Column("lapses_at", Text, nullable=False),
    Index("sscard_lapse_schedule_due", "lapses_at"),
)


@dataclass(frozen=True)
class DueLapse:
    holder_id: UUID
    pre_report_version: int
    lapses_at: datetime


class LapseSchedule:
    """A read model like the others (``tracking.envelopes.ReadModel``), over the card events'
    public form: a pre-report's deadline is public (``lapses_at``), so no personal field is
    opened to keep it."""

    name: str = "lapse_schedule"
    feeds: Sequence[Feed] = (CARD_EVENTS,)
    tables: Sequence[Table] = (schedule_table,)
    additive: Sequence[Table] = ()

    def __init__(self) -> None:
        # The events ``apply`` matches; the others change nothing in the schedule.
        reads = (
            "LossPreReported",
            "LossPreReportCancelled",
            "LossPreReportLapsed",
            "LossFormallyReported",
        )
        self.parts: Sequence[Part] = (Part(tuple(self.tables), dict.fromkeys(reads, self.apply)),)

    def prefetch(self, envelopes: Sequence[Envelope], rows: Rows) -> None:
        del envelopes, rows  # a handful of events per batch touch the schedule: read on demand

    def apply(self, envelope: Envelope, rows: Rows) -> None:
        holder = envelope["stream_id"]
        payload = envelope["payload"]
        match envelope["event_type"]:
            case "LossPreReported":
                row = {
                    "holder_id": holder,
                    "pre_report_version": envelope["stream_version"],
                    "lapses_at": instant(payload["lapses_at"]),
                }
                rows.put(schedule_table, row)
            case "LossPreReportCancelled" | "LossPreReportLapsed":
                rows.delete(schedule_table, (holder, payload["pre_report_version"]))
            case "LossFormallyReported":
                for row in rows.find(schedule_table, holder_id=holder):
                    rows.delete(schedule_table, (holder, row["pre_report_version"]))

    @staticmethod
    def due(tx: Tx, now: datetime, limit: int = 1000) -> list[DueLapse]:
        t = schedule_table.c
        rows = tx.execute(
            select(t.holder_id, t.pre_report_version, t.lapses_at)
            .where(t.lapses_at <= instant_of(now))
            .order_by(t.lapses_at)
            .limit(limit)
        ).all()
        return [
            DueLapse(
                UUID(row.holder_id),
                int(row.pre_report_version),
                stored_instant(row.lapses_at),
            )
            for row in rows
        ]

    @staticmethod
    def pending(tx: Tx) -> int:
        return int(tx.execute(select(func.count()).select_from(schedule_table)).scalar_one())
