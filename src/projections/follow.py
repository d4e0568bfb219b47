"""The one mechanism every follower of the store shares: read from a position, apply, record.

A projection never knows whether its events come from a replay of the store or (later) from
Kafka; it only sees ``apply(event, tx)`` inside the transaction that also moves its position.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import get_topic

from domain.event import DomainEvent
from projections.store import PositionConflict, Tx, ViewStore


@dataclass(frozen=True)
class Positioned:
    """An event and its position in the store's total order (the notification id)."""

    position: int
    event: DomainEvent


class EventSource(Protocol):
    def head(self) -> int:
        """The position of the newest recorded event (0 when the store is empty)."""

    def read(
        self, after: int, limit: int, types: Sequence[type[DomainEvent]] = ()
    ) -> list[Positioned]:
        """Up to ``limit`` events after ``after``, in store order, optionally of some types."""

    def wait(self, after: int, timeout: float) -> bool:
        """Block until an event after ``after`` exists or ``timeout`` passes; True if one does."""


class StoreEventSource:
    """The event store's notification log as an ``EventSource``."""

    # How often an idle follower asks SQLite for news (it has no notifications to wait on).
    POLL_SECONDS = 0.005

    def __init__(self, app: Application[UUID]) -> None:
        self._app = app
        # PostgreSQL recorders NOTIFY on this channel when they insert; SQLite has none.
        self._channel: str | None = getattr(app.recorder, "channel_name", None)

    def head(self) -> int:
        return self._app.recorder.max_notification_id() or 0

    def read(
        self, after: int, limit: int, types: Sequence[type[DomainEvent]] = ()
    ) -> list[Positioned]:
        notifications = self._app.recorder.select_notifications(
            start=after,
            limit=limit,
            topics=[get_topic(t) for t in types],
            inclusive_of_start=False,
        )
        out = []
        for notification in notifications:
            event = self._app.mapper.to_domain_event(notification)
            assert isinstance(event, DomainEvent)
            out.append(Positioned(notification.id, event))
        return out

    def wait(self, after: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if self.head() > after:
            return True
        if self._channel is not None:
            return self._wait_for_notify(after, deadline)
        while time.monotonic() < deadline:
            time.sleep(self.POLL_SECONDS)
            if self.head() > after:
                return True
        return False

    def _wait_for_notify(self, after: int, deadline: float) -> bool:
        datastore = getattr(self._app.recorder, "datastore")  # noqa: B009
        with datastore.get_connection() as conn:
            conn.execute(f'LISTEN "{self._channel}"')
            try:
                # Re-check after LISTEN: an insert between the first check and LISTEN is seen.
                while self.head() <= after:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    for _ in conn.notifies(timeout=min(remaining, 0.5), stop_after=1):
                        break
                return True
            finally:
                conn.execute(f'UNLISTEN "{self._channel}"')


class Projection(Protocol):
    name: str
    # Event types the projection reads; empty means all.
    types: Sequence[type[DomainEvent]]
    tables: Sequence[str]

    def create_tables(self, tx: Tx) -> None: ...

    def apply(self, event: DomainEvent, tx: Tx) -> None: ...


def prepare(store: ViewStore, projection: Projection) -> None:
    store.ensure_position(projection.name)
    with store.transaction() as tx:
        projection.create_tables(tx)


def catch_up(
    source: EventSource,
    store: ViewStore,
    projection: Projection,
    batch_size: int = 500,
    until: int | None = None,
) -> int:
    """Apply every event after the projection's position up to ``until`` (default: the head).

    Each batch commits with its position. Returns the number of events applied.
    """
    target = source.head() if until is None else until
    applied = 0
    position = store.position(projection.name)
    while position < target:
        batch = source.read(position, batch_size, projection.types)
        batch = [p for p in batch if p.position <= target]
        new_position = batch[-1].position if batch else target
        try:
            with store.transaction() as tx:
                for positioned in batch:
                    projection.apply(positioned.event, tx)
                tx.move_position(projection.name, position, new_position)
        except PositionConflict:
            # Another runner applied this stretch first; our batch was rolled back. Go on from
            # wherever it got to.
            position = store.position(projection.name)
            continue
        applied += len(batch)
        position = new_position
    return applied
