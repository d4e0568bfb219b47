"""The workers of ``sscard run``, each building its own connections on every (re)start, and the
status ``sscard status`` reads back."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from relay.publisher import RELAY
from service.bootstrap import BackOffice, InfrastructureError, open_back_office
from service.event_counts import EVENT_COUNTS, event_counts_runner
from service.kafka_wiring import TopicsGate, relay_for
from service.lapses import LAPSES, LapseScheduler, TickReport
from service.settings import Settings
from service.supervisor import Worker
from store.log_chain import AUDIT, log_chain_runner
from tracking.board import WorkerRow, is_healthy, read_board
from tracking.store import is_store_error, positions_table

log = logging.getLogger(__name__)


def wait_for_back_office(settings: Settings, stop: threading.Event, name: str) -> BackOffice | None:
    """The back office's connections for a worker, once the database answers: a database that
    is down (or restarting) when a worker starts is an outage to wait out, like any other, not a
    failure. None when asked to stop first."""
    since, delay = time.monotonic(), 0.25
    announced = False
    while not stop.is_set():
        try:
            backoffice = open_back_office(settings)
        except Exception as exc:
            if not (isinstance(exc, InfrastructureError) or is_store_error(exc)):
                raise
            if not announced:
                log.warning("%s: the database unavailable at start (%s); waiting for it", name, exc)
                announced = True
            stop.wait(delay)
            delay = min(delay * 2, 5.0)
            continue
        if announced:
            log.info("%s: the database back after %.1f s", name, time.monotonic() - since)
        return backoffice
    return None


def relay_worker(settings: Settings, gate: TopicsGate | None = None) -> Worker:
    gate = TopicsGate(settings) if gate is None else gate

    def run(stop: threading.Event) -> None:
        # Connections of its own: its lock and batches never wait on the scheduler's.
        backoffice = wait_for_back_office(settings, stop, RELAY)
        if backoffice is None:
            return
        with backoffice:
            relay = relay_for(backoffice, provision_topics=True, gate=gate)
            try:
                relay.run(stop)
            finally:
                relay.close()

    return Worker(RELAY, run)


def _log_tick(report: TickReport) -> None:
    for event in report.lapsed:
        log.info(
            "lapsed: pre-report v%d of holder %s", event.pre_report_version, event.originator_id
        )
    if report.failed:
        log.warning("%d lapses refused; retried next tick", report.failed)


def lapse_worker(settings: Settings) -> Worker:
    def run(stop: threading.Event) -> None:
        backoffice = wait_for_back_office(settings, stop, LAPSES)
        if backoffice is None:
            return
        with backoffice:
            scheduler = LapseScheduler(backoffice)
            scheduler.runner(settings.lapse_check_seconds, _log_tick).run(stop)

    return Worker(LAPSES, run)


def audit_worker(settings: Settings) -> Worker:
    """Keeps the log's hash chain (sscard_log_chain) moments behind the store."""

    def run(stop: threading.Event) -> None:
        backoffice = wait_for_back_office(settings, stop, AUDIT)
        if backoffice is None:
            return
        with backoffice:
            log_chain_runner(backoffice).run(stop)

    return Worker(AUDIT, run)


def event_counts_worker(settings: Settings) -> Worker:
    """Keeps the metrics' event counts moments behind the store (status and scrapes only read)."""

    def run(stop: threading.Event) -> None:
        backoffice = wait_for_back_office(settings, stop, EVENT_COUNTS)
        if backoffice is None:
            return
        with backoffice:
            event_counts_runner(backoffice).run(stop)

    return Worker(EVENT_COUNTS, run)


def back_office_workers(
    settings: Settings, relay: bool = True, gate: TopicsGate | None = None
) -> list[Worker]:
    workers = [lapse_worker(settings), audit_worker(settings), event_counts_worker(settings)]
    if relay:
        workers.insert(0, relay_worker(settings, gate))
    return workers


@dataclass(frozen=True)
class FollowerStatus:
    name: str
    position: int
    lag: int


@dataclass(frozen=True)
class Status:
    store: str
    head: int
    followers: list[FollowerStatus]
    workers: list[WorkerRow]
    at: datetime

    def silent(self, worker: WorkerRow) -> bool:
        """No heartbeat for three beats: the process is gone or cut off from the database."""
        return worker.silent(self.at)

    @property
    def unhealthy(self) -> list[WorkerRow]:
        """Live workers that do no work (tracking.board.is_healthy)."""
        return [w for w in self.workers if not is_healthy(w, self.at)]


def store_description(settings: Settings) -> str:
    if settings.uses_postgres:
        pg = settings.postgres()
        return f"PostgreSQL {pg.host}:{pg.port}/{pg.dbname} schema {pg.db_schema or 'public'}"
    return f"SQLite {settings.sqlite_path}"


def status(settings: Settings) -> Status:
    with open_back_office(settings) as backoffice:
        return status_of(backoffice)


def status_of(backoffice: BackOffice) -> Status:
    """The status read through a back office already open (the HTTP API keeps one open)."""
    head = backoffice.source.head()
    with backoffice.views.reading() as tx:
        rows = tx.execute(select(positions_table).order_by(positions_table.c.name)).all()
    followers = [
        FollowerStatus(r.name, int(r.position), max(head - int(r.position), 0)) for r in rows
    ]
    workers = read_board(backoffice.views)
    return Status(
        store_description(backoffice.settings), head, followers, workers, datetime.now(UTC)
    )
