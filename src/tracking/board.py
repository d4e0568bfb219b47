"""Where workers say what they are doing, so that ``sscard status`` (another process, maybe on
another machine) can tell: one row per worker in the view store, beside the positions it reports
on, written when the state changes and at least every ``HEARTBEAT_SECONDS``. A worker that
ended (stopped, or silent: its process is gone) leaves the board after ``ENDED_BOUND_SECONDS``:
the running workers prune such rows as they beat, and ``read_board`` leaves them out meanwhile,
so the board stays short however often the back office restarts, and reading it writes nothing.

The view store rather than a file in the data directory: on PostgreSQL the back office and the
operator's shell need not share a machine, and a standby relay on another host shows too. While
the database itself is down nothing can be written; ``sscard status`` then cannot reach it
either and says so, and a row that stops being refreshed shows as silent.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from tracking.store import ViewStore, is_store_error, workers_table

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# No heartbeat for this long: the process is gone or cut off from the database.
SILENT_SECONDS = 3 * HEARTBEAT_SECONDS
# A worker that stopped (or went silent) this long ago is no longer shown, and is pruned.
ENDED_BOUND_SECONDS = 300.0
# How often a running worker prunes the rows of ended ones.
PRUNE_EVERY_SECONDS = 60.0

# The states a worker reports; ``sscard status`` prints them as they are.
RUNNING = "running"
STARTING = "starting"
STANDBY = "standby"
STOPPED = "stopped"
FAILED = "failed"
# A Kafka consumer that holds no partition of its topic although the topic has some: it reads
# nothing, so its view falls behind; it rejoins its group until it is given its share.
NO_PARTITIONS = "holding no partition"
# States in which a live worker is not doing its job (``sscard status`` exits non-zero).
UNHEALTHY = frozenset({NO_PARTITIONS, FAILED})


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc_text(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class WorkerRow:
    worker: str
    name: str
    state: str
    detail: str
    since: datetime
    updated_at: datetime

    def silent_for(self, now: datetime) -> float:
        return (now - self.updated_at).total_seconds()

    def silent(self, now: datetime) -> bool:
        return self.state != STOPPED and self.silent_for(now) > SILENT_SECONDS

    def ended_long_ago(self, now: datetime) -> bool:
        """Stopped or silent for longer than the bound: no longer worth a line."""
        return self.silent_for(now) > ENDED_BOUND_SECONDS


def is_healthy(worker: WorkerRow, now: datetime) -> bool:
    """A worker is healthy unless it is alive and in a state in which it does no work (a
    consumer holding no partition, a failed worker). An outage is shown, not unhealthy: the
    worker waits it out and goes on by itself."""
    return worker.state not in UNHEALTHY or worker.silent(now) or worker.state == STOPPED


class Board:
    """One worker's row. Writing never raises for a database that is down: the state then
    cannot be shown anyway, and the worker must not fail for it."""

    def __init__(self, store: ViewStore, name: str) -> None:
        self._store = store
        self.name = name
        self.worker = f"{name}@{socket.gethostname()}:{os.getpid()}"
        self.state = ""
        self.detail = ""
        self._since = datetime.now(UTC)
        self._written = 0.0
        self._pruned = 0.0

    def set(self, state: str, detail: str = "", since: datetime | None = None) -> None:
        """``since``: when the state began, if before now (an outage noticed late)."""
        changed = (state, detail) != (self.state, self.detail)
        if state != self.state:
            self._since = datetime.now(UTC) if since is None else since
        self.state, self.detail = state, detail
        if changed or time.monotonic() - self._written >= HEARTBEAT_SECONDS:
            self._write()
        if time.monotonic() - self._pruned >= PRUNE_EVERY_SECONDS:
            self._pruned = time.monotonic()
            self._prune()

    def _prune(self) -> None:
        try:
            forget_ended(self._store)
        except Exception as exc:
            if not is_store_error(exc):
                raise
            log.debug("could not prune ended workers: %s", exc)

    def _write(self) -> None:
        now = datetime.now(UTC)
        try:
            with self._store.transaction() as tx:
                tx.upsert(
                    workers_table,
                    ["worker"],
                    worker=self.worker,
                    name=self.name,
                    state=self.state,
                    detail=self.detail,
                    since=_utc_text(self._since),
                    updated_at=_utc_text(now),
                )
        except Exception as exc:
            if not is_store_error(exc):
                raise
            log.debug("could not record %s's state %s: %s", self.worker, self.state, exc)
            return
        self._written = time.monotonic()


def read_board(store: ViewStore, now: datetime | None = None) -> list[WorkerRow]:
    """The workers' rows, without those that ended longer ago than the bound."""
    now = datetime.now(UTC) if now is None else now
    with store.reading() as tx:
        rows = tx.execute(select(workers_table).order_by(workers_table.c.name)).all()
    workers = [
        WorkerRow(
            worker=r.worker,
            name=r.name,
            state=r.state,
            detail=r.detail,
            since=parse_utc_text(r.since),
            updated_at=parse_utc_text(r.updated_at),
        )
        for r in rows
    ]
    return [w for w in workers if not w.ended_long_ago(now)]


def forget_ended(store: ViewStore, older_than_seconds: float = ENDED_BOUND_SECONDS) -> None:
    """Drop rows of workers that stopped (or went silent) long ago, so status stays short."""
    cutoff = _utc_text(datetime.fromtimestamp(time.time() - older_than_seconds, UTC))
    with store.transaction() as tx:
        tx.execute(workers_table.delete().where(workers_table.c.updated_at < cutoff))
