"""Open pre-reports and when they lapse: what the lapse scheduler asks "who is due now?".

Rebuilt from the store like any view, so the schedule survives downtime: whatever came due while
the back office was down is found on the next tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from domain.cardholder.events import (
    LossFormallyReported,
    LossPreReportCancelled,
    LossPreReported,
    LossPreReportLapsed,
)
from domain.event import DomainEvent
from tracking.store import Tx


def _instant(at: datetime) -> str:
    """A sortable text form of a UTC instant, identical on SQLite and PostgreSQL."""
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
    tables: Sequence[str] = ("sscard_lapse_schedule",)

    def create_tables(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS sscard_lapse_schedule ("
            " holder_id TEXT NOT NULL,"
            " pre_report_version INTEGER NOT NULL,"
            " lapses_at TEXT NOT NULL,"
            " PRIMARY KEY (holder_id, pre_report_version))"
        )
        tx.execute(
            "CREATE INDEX IF NOT EXISTS sscard_lapse_schedule_due "
            "ON sscard_lapse_schedule (lapses_at)"
        )

    def apply(self, event: DomainEvent, tx: Tx) -> None:
        holder = str(event.originator_id)
        match event:
            case LossPreReported():
                tx.execute(
                    "INSERT INTO sscard_lapse_schedule VALUES (?, ?, ?) "
                    "ON CONFLICT (holder_id, pre_report_version) DO NOTHING",
                    (holder, event.originator_version, _instant(event.lapses_at)),
                )
            case LossPreReportCancelled() | LossPreReportLapsed():
                tx.execute(
                    "DELETE FROM sscard_lapse_schedule "
                    "WHERE holder_id = ? AND pre_report_version = ?",
                    (holder, event.pre_report_version),
                )
            case LossFormallyReported():
                tx.execute("DELETE FROM sscard_lapse_schedule WHERE holder_id = ?", (holder,))

    @staticmethod
    def due(tx: Tx, now: datetime, limit: int = 1000) -> list[DueLapse]:
        rows = tx.fetchall(
            "SELECT holder_id, pre_report_version, lapses_at FROM sscard_lapse_schedule "
            "WHERE lapses_at <= ? ORDER BY lapses_at LIMIT ?",
            (_instant(now), limit),
        )
        return [
            DueLapse(
                UUID(holder),
                int(version),
                datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
            )
            for holder, version, at in rows
        ]

    @staticmethod
    def pending(tx: Tx) -> int:
        row = tx.fetchone("SELECT COUNT(*) FROM sscard_lapse_schedule")
        return int(row[0]) if row else 0
