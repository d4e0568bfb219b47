"""Where followers read from: the event store's notification log, in its total order.

Every follower of the store (the relay, the lapse schedule, read models replayed from the store)
reads through a ``StoreEventSource``: the newest position, a batch after a position, and a wait
for news. ``StoreFeed`` turns it into the runner's ``Source`` of batches.

A replay reads many records and keeps none: ``records`` selects the five columns it needs
straight from the library's table, as plain tuples (no ``Notification``, no ``UUID`` made per
record: the stream id stays text), and ``public_envelopes`` opens them in bulk
(``store.public_opening``) into the envelopes the relay would publish.
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
from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic, retry
from psycopg import sql
from psycopg.rows import tuple_row

from contract.envelope import Envelope
from contract.public_form import Form, StoredForm
from domain.event import DomainEvent
from tracking.follow import Batch

T = TypeVar("T")

# A stored record as a replay reads it: its position, its stream id as text (canonical, as
# ``str(UUID)`` writes it), its stream version, its topic and its stored state (the bytes, or
# on PostgreSQL the same JSON as text).
Record = tuple[int, str, int, str, bytes | str]


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

    def public_envelopes(self, records: Sequence[Record]) -> list[Envelope]: ...


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
        self._select: Callable[[int, int, list[str]], list[Record]] = self._select_of(app.recorder)

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

    def records(
        self, after: int, limit: int, types: Sequence[type[DomainEvent]] = ()
    ) -> list[Record]:
        """``notifications`` as bare tuples (``Record``): what a replay reads."""
        return self._select(after, limit, [get_topic(t) for t in types])

    def public_envelopes(self, records: Sequence[Record]) -> list[Envelope]:
        """The public envelope of each record (of a published type), in order: the very dict
        the relay publishes for it, built from only the personal fields its public form needs
        opened (``contract.public_form.PUBLIC_NEEDS``)."""
        return cast(StoredFormMapper, self._app.mapper).public_envelopes(records)

    def _select_of(self, recorder: Any) -> Callable[[int, int, list[str]], list[Record]]:
        if isinstance(recorder, SQLiteApplicationRecorder):
            return _SQLiteRecords(recorder).select
        if hasattr(recorder, "channel_name"):  # the library's PostgreSQL application recorder
            return _PostgresRecords(recorder).select
        return self._library_records

    def _library_records(self, after: int, limit: int, topics: list[str]) -> list[Record]:
        notifications = self._app.recorder.select_notifications(
            start=after, limit=limit, topics=topics, inclusive_of_start=False
        )
        return [
            (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in notifications
        ]

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


class _SQLiteRecords:
    """The records after a position, straight from the library's SQLite table (``rowid`` is the
    position; the library stores a stream id as its 32 hex digits, hyphenated here: cheaper in
    Python than in SQL, and far cheaper than a ``UUID``)."""

    def __init__(self, recorder: SQLiteApplicationRecorder) -> None:
        self._recorder = recorder
        self._statements: dict[int, str] = {}

    def select(self, after: int, limit: int, topics: list[str]) -> list[Record]:
        statement = self._statements.get(len(topics))
        if statement is None:
            statement = self._statements[len(topics)] = self._statement(len(topics))
        with self._recorder.datastore.transaction(commit=False) as curs:
            cursor = curs.sqlite_cursor
            cursor.row_factory = None  # tuples, not sqlite3.Row
            cursor.execute(statement, (after, *topics, limit))
            rows = cursor.fetchall()
        return [
            (p, f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if len(h) == 32 else
             str(UUID(h)), v, t, s)
            for p, h, v, t, s in rows
        ]  # fmt: skip

    def _statement(self, topics: int) -> str:
        where = f" AND topic IN ({','.join('?' * topics)})" if topics else ""
        return (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self._recorder.events_table_name} WHERE rowid>?{where} ORDER BY rowid LIMIT ?"
        )


class _PostgresRecords:
    """The records after a position, straight from the library's PostgreSQL table, a batch in
    one text value: psycopg's pure-Python build (no ``psycopg[c]`` here) parses each value of
    each row in Python, about 1.5 µs a value, so a batch comes as its rows joined by the
    server, one line each (position, stream id, version and topic before the stored JSON, none
    of which holds a space), about 1 µs a record in all. A batch whose lines do not add up (a
    state with a newline) is read row by row."""

    def __init__(self, recorder: Any) -> None:
        self._datastore = recorder.datastore
        table = sql.SQL("{}.{}").format(
            sql.Identifier(self._datastore.schema), sql.Identifier(recorder.events_table_name)
        )
        rows = (
            sql.SQL(
                "SELECT notification_id, originator_id::text AS stream, originator_version, "
                "topic, state FROM "
            )
            + table
            + sql.SQL(" WHERE notification_id>%s")
        )
        order = sql.SQL(" ORDER BY notification_id LIMIT %s")
        self._rows_of_topics = rows + sql.SQL(" AND topic = ANY(%s)") + order
        self._rows_of_any = rows + order
        line = sql.SQL(
            "SELECT count(*), string_agg(notification_id::text || ' ' || stream || ' ' || "
            "originator_version::text || ' ' || topic || ' ' || convert_from(state, 'UTF8'), "
            "E'\\n' ORDER BY notification_id) FROM ("
        )
        self._lines_of_topics = line + self._rows_of_topics + sql.SQL(") AS batch")
        self._lines_of_any = line + self._rows_of_any + sql.SQL(") AS batch")

    def select(self, after: int, limit: int, topics: list[str]) -> list[Record]:
        return cast(list[Record], self._select(after, limit, topics))

    # As the library's recorder does: a connection that broke is retried.
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _select(self, after: int, limit: int, topics: list[str]) -> list[Record]:
        params: tuple[Any, ...] = (after, topics, limit) if topics else (after, limit)
        with (
            self._datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(self._lines_of_topics if topics else self._lines_of_any, params)
            count, text = curs.fetchone() or (0, "")
            if not count:
                return []
            lines = text.split("\n")
            if len(lines) == count:  # each record one line: no state holds a newline
                return [_record(line) for line in lines]
            # A state with a raw newline (JSON allows one between tokens; the mapper never
            # writes one): the batch row by row.
            curs.execute(self._rows_of_topics if topics else self._rows_of_any, params)
            rows: list[Record] = curs.fetchall()
            return rows


def _record(line: str) -> Record:
    position, stream, version, topic, state = line.split(" ", 4)
    return int(position), stream, int(version), topic, state


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
