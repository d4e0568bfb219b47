"""Where followers read from: the event store's notification log, in its total order.

Every follower of the store (the relay, the lapse schedule, read models replayed from the store)
reads through a ``StoreEventSource``: the newest position, a batch after a position, and a wait
for news. ``StoreFeed`` turns it into the runner's ``Source`` of batches.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.utils import get_topic

from contract.public_form import Form, StoredForm
from domain.event import DomainEvent
from tracking.follow import Batch

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Positioned:
    """An event and its position in the store's total order (the notification id)."""

    position: int
    event: DomainEvent


class StoredFormMapper(Protocol):
    """What the store's mapper offers besides whole events (store.persistence has it)."""

    def to_stored_form(
        self, stored: StoredEvent, public_only: bool = False
    ) -> tuple[type[DomainEvent], Form]: ...


class StoreEventSource:
    """The event store's notification log: its head, the records after a position (as stored
    forms, or as whole events), and a wait for news."""

    # How often an idle follower asks SQLite for news (it has no notifications to wait on).
    POLL_SECONDS = 0.005

    def __init__(self, app: Application[UUID]) -> None:
        self._app = app
        # PostgreSQL recorders NOTIFY on this channel when they insert; SQLite has none.
        self._channel: str | None = getattr(app.recorder, "channel_name", None)
        self._listener: Any = None
        self._listen_lock = threading.Lock()

    @property
    def mapper(self) -> Any:
        """The store's mapper (``store.persistence``: whole events and stored forms)."""
        return self._app.mapper

    def head(self) -> int:
        """The position of the newest recorded event (0 when the store is empty)."""
        return self._app.recorder.max_notification_id() or 0

    def notifications(
        self, after: int, limit: int, types: Sequence[type[DomainEvent]] = ()
    ) -> list[Notification]:
        return list(
            self._app.recorder.select_notifications(
                start=after,
                limit=limit,
                topics=[get_topic(t) for t in types],
                inclusive_of_start=False,
            )
        )

    def read(
        self, after: int, limit: int, types: Sequence[type[DomainEvent]] = ()
    ) -> list[Positioned]:
        """Up to ``limit`` events after ``after``, in store order, optionally of some types,
        each loaded and validated as a whole event."""
        return [self.positioned(n) for n in self.notifications(after, limit, types)]

    def positioned(self, notification: Notification) -> Positioned:
        event = self._app.mapper.to_domain_event(notification)
        assert isinstance(event, DomainEvent)
        return Positioned(notification.id, event)

    def stored_form(self, notification: Notification, public_only: bool = False) -> StoredForm:
        """The notification's event as its JSON form at its position; ``public_only``: with
        only the personal fields its public form derives from opened."""
        mapper = cast(StoredFormMapper, self._app.mapper)
        event_type, form = mapper.to_stored_form(notification, public_only)
        return StoredForm(notification.id, event_type, form)

    def wait(self, after: int, timeout: float) -> bool:
        """Block until an event after ``after`` exists or ``timeout`` passes; True if one does."""
        if self.head() > after:
            return True
        if self._channel is not None:
            return self._wait_for_notify(after, timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(self.POLL_SECONDS)
            if self.head() > after:
                return True
        return False

    def _wait_for_notify(self, after: int, timeout: float) -> bool:
        """Wait on a connection that LISTENs for good: a notification sent since it began
        listening is queued on it, so none is missed between the check above and the wait, and
        a wake-up costs no LISTEN/UNLISTEN round trips. An old queued one only wakes us early."""
        with self._listen_lock:
            conn = self._listening()
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                return True
        return self.head() > after

    def _listening(self) -> Any:
        if self._listener is None:
            datastore = getattr(self._app.recorder, "datastore")  # noqa: B009
            conn = datastore.pool.getconn()
            try:
                conn.execute(f'LISTEN "{self._channel}"')
            except BaseException:
                datastore.pool.putconn(conn)
                raise
            self._listener = conn
        return self._listener

    def reset(self) -> None:
        """After an outage: give the listening connection back (the pool drops it if it died
        with the server), and have the pool test its idle connections now, replacing the dead
        ones. Left to pre-ping on checkout, five dead connections cost one back-off each (about
        fifteen seconds in all) before the first read succeeded."""
        datastore = getattr(self._app.recorder, "datastore", None)
        if datastore is None:
            return
        with self._listen_lock:
            conn, self._listener = self._listener, None
            if conn is not None:
                with contextlib.suppress(Exception):  # a dead connection: the pool discards it
                    conn.execute(f'UNLISTEN "{self._channel}"')
                datastore.pool.putconn(conn)
        with contextlib.suppress(Exception):  # the server may still be down: retried later
            datastore.pool.check()


class StoreFeed(Generic[T]):
    """The store as a follower's source: batches of the events of some types after a position.

    ``decode`` turns each notification into what the handler wants (the stored form for the
    relay, the public envelope for a read model: ``tracking.envelopes.store_feed``).
    """

    def __init__(
        self,
        source: StoreEventSource,
        decode: Callable[[Notification], T],
        types: Sequence[type[DomainEvent]] = (),
    ) -> None:
        self.source = source
        self._decode = decode
        self._types = tuple(types)

    def read(self, after: int, limit: int) -> Batch[int, T]:
        # The head is read first: commit order equals position order on both stores, so
        # nothing at or below it can still appear. A short batch of the wanted types therefore
        # lets the position move past every other event up to the head.
        head = self.source.head()
        if head <= after:
            return Batch(after, after, ())
        notifications = self.source.notifications(after, limit, self._types)
        last = notifications[-1].id if notifications else after
        end = max(last, head) if len(notifications) < limit else last
        return Batch(after, end, tuple(self._decode(n) for n in notifications))

    def wait(self, after: int, timeout: float) -> bool:
        return self.source.wait(after, timeout)

    def lag(self, position: int) -> int:
        return max(self.source.head() - position, 0)

    def reset(self) -> None:
        # The library's pool replaces its other dead connections itself (pre-ping).
        self.source.reset()
