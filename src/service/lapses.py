"""The system's own clock-driven step: pre-reports that reach their deadline lapse, once.

Exactly once holds because the aggregate raises ``LossPreReportLapsed`` only for a pre-report
that is still open and due: a repeated tick, two schedulers racing, or a tick after downtime all
converge on one event per pre-report.

The lapse schedule is a read model like any other: a follower of the store, run by the same
runner as the relay (outages waited out, connections reopened), ticking every
``lapse_check_seconds`` once it has caught up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from contract.envelope import Envelope
from domain.cardholder.events import LossPreReportLapsed
from domain.errors import DomainError
from projections.lapse_schedule import LapseSchedule
from service.bootstrap import BackOffice
from tracking.board import Board
from tracking.envelopes import prepare, store_follower
from tracking.follow import Follower
from tracking.runner import Pulse, Runner

log = logging.getLogger(__name__)

LAPSES = "lapses"


@dataclass
class TickReport:
    at: datetime
    due: int = 0
    lapsed: list[LossPreReportLapsed] = field(default_factory=list)
    failed: int = 0


class LapseScheduler:
    def __init__(self, backoffice: BackOffice, batch_size: int = 500) -> None:
        self._backoffice = backoffice
        self._schedule = LapseSchedule()
        self._batch_size = batch_size
        prepare(backoffice.views, self._schedule)
        self.follower: Follower[int, Envelope] = store_follower(
            backoffice.source, backoffice.views, self._schedule, batch_size
        )

    def catch_up(self) -> int:
        applied, pulse = 0, Pulse.quiet()
        while (handled := self.follower.step(pulse)) is not None:
            applied += handled
        return applied

    def tick(self, now: datetime | None = None) -> TickReport:
        """Lapse every pre-report due at ``now`` (default: the clock), including overdue ones.

        ``now`` given (``tick --at``) dates the lapses then; the office refuses it in the future
        or before a holder's previous event. Without it the office dates them by its clock."""
        at = (now or datetime.now(UTC)).astimezone(UTC)
        report = TickReport(at=at)
        attempted: set[tuple[UUID, int]] = set()
        while True:
            self.catch_up()
            with self._backoffice.views.reading() as tx:
                due = LapseSchedule.due(tx, at, self._batch_size + len(attempted))
            fresh = [d for d in due if (d.holder_id, d.pre_report_version) not in attempted]
            if not fresh:
                return report
            report.due += len(fresh)
            for item in fresh:
                attempted.add((item.holder_id, item.pre_report_version))
                self._lapse(item.holder_id, item.pre_report_version, now, report)

    def _lapse(
        self, holder_id: UUID, version: int, at: datetime | None, report: TickReport
    ) -> None:
        try:
            event = self._backoffice.office.lapse_pre_report(holder_id, version, at)
        except DomainError as exc:
            # One holder's trouble must not stop everyone else's lapse; it is retried next tick.
            report.failed += 1
            log.error("lapse of pre-report v%s of holder %s refused: %s", version, holder_id, exc)
            return
        if event is not None:
            report.lapsed.append(event)

    def pending(self) -> int:
        with self._backoffice.views.reading() as tx:
            return LapseSchedule.pending(tx)

    def runner(self, every: float, on_tick: Callable[[TickReport], None]) -> Runner:
        """The lapse worker: follow the store into the schedule, lapse what is due every
        ``every`` seconds. Not live: the schedule only needs to be current at each tick."""

        def tick() -> None:
            on_tick(self.tick())

        return Runner(
            LAPSES,
            follower=self.follower,
            board=Board(self._backoffice.views, LAPSES),
            every=(every, tick),
            live=False,
        )
