"""The operating queries and commands every entry point calls: the back office's status, the
relay's, a tick of the lapse scheduler, the public contracts, the topics.

Each takes typed inputs and returns a ``status_results`` model; none prints or parses argv. The
long-running workers (``sscard run``) are composition, not queries: ``service.entry`` holds
them. This module loads the database and Kafka clients: entry points import it when a command
runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from application.results import BEIJING, local_instant
from application.status_results import (
    ConsumerLag,
    ContractsExportResult,
    FollowerPosition,
    LapsedPreReport,
    RelayStatusResult,
    StatusResult,
    TickResult,
    TopicsResult,
    WorkerState,
)
from domain.cardholder.events import LossPreReportLapsed
from domain.values import check_not_future
from relay.contracts import export_contracts as write_contracts
from service.bootstrap import BackOffice, open_back_office
from service.kafka_wiring import ensure_topics, relay_for, topics
from service.lapses import LapseScheduler
from service.metrics import snapshot
from service.settings import Settings
from service.workers import status_of
from tracking.board import is_healthy


def status(settings: Settings) -> StatusResult:
    """Each worker's state, the store head, each follower's position and lag, the consumers'
    lag and dead letters, the counts of commands. Reads only, so it answers on a full disk;
    ``healthy`` is false when a live worker does no work."""
    with open_back_office(settings) as backoffice:
        return status_in(backoffice)


def status_in(backoffice: BackOffice) -> StatusResult:
    """``status`` through a back office already open (the HTTP API opens one per process)."""
    report = status_of(backoffice)
    figures = snapshot(backoffice)
    workers = [
        WorkerState(
            worker=w.worker,
            state=w.state,
            detail=w.detail,
            since=local_instant(w.since),
            seconds_in_state=round((report.at - w.since).total_seconds(), 1),
            silent_seconds=round(w.silent_for(report.at), 1),
            silent=report.silent(w),
            healthy=is_healthy(w, report.at),
        )
        for w in report.workers
    ]
    return StatusResult(
        at=local_instant(report.at),
        store=report.store,
        head=report.head,
        healthy=all(w.healthy for w in workers),
        followers=[
            FollowerPosition(name=f.name, position=f.position, lag=f.lag) for f in report.followers
        ],
        card_events_topic=topics(backoffice.settings).card_events,
        consumers=[
            ConsumerLag(view=c.view, lag=c.lag, dead_letters=c.dead_letters)
            for c in figures.consumers
        ],
        notes=list(figures.notes),
        pending_lapses=figures.pending_lapses,
        commands=dict(sorted(figures.commands.items())),
        refusals=dict(sorted(figures.refusals.items())),
        system_events=dict(sorted(figures.system_events.items())),
        workers=workers,
    )


def relay_status(settings: Settings) -> RelayStatusResult:
    """The store head, the position the relay has published to, and the lag between them."""
    with open_back_office(settings) as backoffice:
        found = relay_for(backoffice).status()
    return RelayStatusResult(head=found.head, published=found.published, lag=found.lag)


# A lapse handled this long after its deadline is late: settlement stayed suspended until then.
LAPSE_LATE = timedelta(minutes=1)


def _lapsed(event: LossPreReportLapsed) -> LapsedPreReport:
    return LapsedPreReport(
        holder_stream_id=str(event.originator_id),
        card_number=event.card_number,
        deadline=local_instant(event.deadline),
        lapsed_at=local_instant(event.occurred_at),
        result=event.result.value,
        late=event.occurred_at - event.deadline > LAPSE_LATE,
    )


def tick(settings: Settings, at: datetime | None = None) -> TickResult:
    """Lapse every pre-report that is due at ``at`` (default: the clock), once. ``at`` may not be
    in the future: lapsing as of tomorrow would unblock cards reported lost today."""
    if at is not None:
        check_not_future(at, datetime.now(UTC), BEIJING, "--at")
    with open_back_office(settings) as backoffice:
        return tick_in(backoffice, at)


def tick_in(backoffice: BackOffice, at: datetime | None = None) -> TickResult:
    """``tick`` through a back office already open (the HTTP API keeps one open)."""
    scheduler = LapseScheduler(backoffice)
    report = scheduler.tick(at)
    pending = scheduler.pending()
    return TickResult(
        at=local_instant(report.at),
        due=report.due,
        lapsed=[_lapsed(e) for e in report.lapsed],
        failed=report.failed,
        open=pending,
    )


def export_contracts(directory: Path) -> ContractsExportResult:
    """Write the JSON Schema and AsyncAPI files of every topic and message under ``directory``."""
    written = write_contracts(directory)
    return ContractsExportResult(
        directory=str(directory), files=[str(p.relative_to(directory)) for p in written]
    )


def provision_topics(settings: Settings) -> TopicsResult:
    """Create the missing topics; refuse (raise) one whose configuration contradicts ours."""
    created = ensure_topics(settings)
    names = topics(settings)
    return TopicsResult(
        bootstrap_servers=settings.bootstrap_servers,
        topics=[names.card_events, names.settlement, names.reimbursement_events, names.dead_letter],
        created=list(created),
    )
