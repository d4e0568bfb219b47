"""What the store has recorded, counted by event type (``sscard_event_counts``), for the metrics.

A follower of the store moves the counts and its position under ``sscard run`` (a worker, like
the lapse schedule), never because someone looked: ``sscard status`` and a Prometheus scrape only
read, adding in memory whatever was stored since the follower's position, so they answer on a
full disk or a read-only store and always show the exact figures.

Commands and system events are told apart: a lapse is recorded by the scheduler, not asked for by
anyone, so it is not a command.
"""

from __future__ import annotations

from collections import Counter

from eventsourcing.persistence import Notification
from eventsourcing.utils import resolve_topic
from sqlalchemy import BigInteger, Column, Table, Text, select
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from domain.cardholder.events import CARDHOLDER_EVENTS, LossPreReportLapsed
from domain.claims.events import ClaimEvent
from domain.event import DomainEvent
from service.bootstrap import BackOffice
from tracking.board import Board
from tracking.follow import Batch, Commit, Follower, StorePositions
from tracking.runner import Pulse, Runner
from tracking.source import StoreFeed
from tracking.store import Tx, metadata, positions_table

EVENT_COUNTS = "event_counts"

# Events the back office records by itself: counted apart from commands.
SYSTEM_EVENTS: tuple[type[DomainEvent], ...] = (LossPreReportLapsed,)

event_counts_table = Table(
    "sscard_event_counts",
    metadata,
    Column("event_type", Text, primary_key=True),
    Column("total", BigInteger, nullable=False),
)


def increment(tx: Tx, table: Table, key: str, value: str, by: int) -> None:
    insert = pg_dialect.insert if tx.dialect == "postgres" else sqlite_dialect.insert
    statement = insert(table).values({key: value, "total": by})
    tx.execute(
        statement.on_conflict_do_update(
            index_elements=[key], set_={"total": table.c.total + statement.excluded["total"]}
        )
    )


def is_system_event(event_type: str) -> bool:
    return event_type in {t.__name__ for t in SYSTEM_EVENTS}


def counted_event(notification: Notification) -> str:
    """The event type a command (or the scheduler) recorded; "" for internal bookkeeping
    (reservations, request records, the benefit ledger), which nobody asked for."""
    cls = resolve_topic(notification.topic)
    if cls in CARDHOLDER_EVENTS or issubclass(cls, ClaimEvent):
        return str(cls.__name__)
    return ""


class _CountEvents:
    def handle(self, batch: Batch[int, str], commit: Commit, pulse: Pulse) -> None:
        del pulse
        counts = Counter(item for item in batch.items if item)

        def record(tx: Tx) -> None:
            for event_type, count in sorted(counts.items()):
                increment(tx, event_counts_table, "event_type", event_type, count)

        commit(record)


def _follower(backoffice: BackOffice) -> Follower[int, str]:
    feed = StoreFeed(backoffice.source, counted_event)
    positions = StorePositions(backoffice.views)
    return Follower(EVENT_COUNTS, feed, positions, _CountEvents(), 5_000)


def count_events(backoffice: BackOffice) -> None:
    """Bring the counts up to the store's head (the worker does this under ``sscard run``)."""
    backoffice.views.create((event_counts_table,))
    follower = _follower(backoffice)
    follower.prepare()
    pulse = Pulse.quiet()
    while follower.step(pulse) is not None:
        pass


def event_counts_runner(backoffice: BackOffice, every: float = 5.0) -> Runner:
    """The worker of ``sscard run``: not live, the figures need only be seconds old (and a
    status or a scrape adds what is newer by itself)."""

    def prepare() -> None:
        backoffice.views.create((event_counts_table,))

    return Runner(
        EVENT_COUNTS,
        follower=_follower(backoffice),
        board=Board(backoffice.views, EVENT_COUNTS),
        prepare=prepare,
        live=False,
        heartbeat=every,
    )


def read_counts(backoffice: BackOffice) -> dict[str, int]:
    """The counts as recorded, plus what was stored after the follower's position: read only.
    A store on which the follower never ran (no table, no position) is counted from the start."""
    views = backoffice.views
    stored: dict[str, int] = {}
    position = 0
    with views.reading() as tx:
        if tx.has_table(event_counts_table.name):
            stored = {r.event_type: int(r.total) for r in tx.execute(select(event_counts_table))}
            row = tx.execute(
                select(positions_table.c.position).where(positions_table.c.name == EVENT_COUNTS)
            ).first()
            position = 0 if row is None else int(row[0])
    counts = Counter(stored)
    feed = StoreFeed(backoffice.source, counted_event)
    while (batch := feed.read(position, 5_000)).moves:
        counts.update(item for item in batch.items if item)
        position = batch.end
    return dict(counts)
