"""Open pre-reports and when they lapse: what the lapse scheduler asks "who is due now?".

Rebuilt from the store like any view, so the schedule survives downtime: whatever came due while
the back office was down is found on the next tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Column, Index, Integer, Table, Text, delete, func, select

from domain.cardholder.events import (
    LossFormallyReported,
    LossPreReportCancelled,
    LossPreReported,
    LossPreReportLapsed,
)
from domain.event import DomainEvent
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


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class DueLapse:
    holder_id: UUID
    pre_report_version: int
    lapses_at: datetime


class LapseSchedule:
    name: str = "lapse_schedule"
    types: Sequence[type[DomainEvent]] = (
        LossPreReported,
        LossPreReportCancelled,
        LossPreReportLapsed,
        LossFormallyReported,
    )
    tables: Sequence[Table] = (schedule_table,)

    def apply(self, event: DomainEvent, tx: Tx) -> None:
        holder = str(event.originator_id)
        t = schedule_table.c
        match event:
            case LossPreReported():
                tx.insert_new(
                    schedule_table,
                    holder_id=holder,
                    pre_report_version=event.originator_version,
                    lapses_at=_instant(event.lapses_at),
                )
            case LossPreReportCancelled() | LossPreReportLapsed():
                tx.execute(
                    delete(schedule_table).where(
                        t.holder_id == holder, t.pre_report_version == event.pre_report_version
                    )
                )
            case LossFormallyReported():
                tx.execute(delete(schedule_table).where(t.holder_id == holder))

    @staticmethod
    def due(tx: Tx, now: datetime, limit: int = 1000) -> list[DueLapse]:
        t = schedule_table.c
        rows = tx.execute(
            select(t.holder_id, t.pre_report_version, t.lapses_at)
            .where(t.lapses_at <= _instant(now))
            .order_by(t.lapses_at)
            .limit(limit)
        ).all()
        return [
            DueLapse(
                UUID(row.holder_id),
                int(row.pre_report_version),
                datetime.strptime(row.lapses_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
            )
            for row in rows
        ]

    @staticmethod
    def pending(tx: Tx) -> int:
        return int(tx.execute(select(func.count()).select_from(schedule_table)).scalar_one())
