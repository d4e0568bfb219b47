"""Where followers read from: the event store's notification log, in its total order.

Every follower (the relay, the lapse schedule, read models replayed from the store) reads through
an ``EventSource``: the newest position, a batch after a position, and a wait for news.
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
