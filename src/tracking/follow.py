"""The one follow mechanism: read a batch after a position, act on it, record the new position.

A follower is (name, source, positions, handler). The source hands out batches after a position
(the store's notification log today; a Kafka topic's partitions later, whose positions are
per-partition offsets); the positions keep where each follower got to; the handler acts on a
batch and records its position through ``commit``:

- a read model applies the batch inside the commit, so its view and its position change in one
  transaction (``tracking.envelopes.EnvelopeHandler``);
- the relay publishes the batch first and commits once Kafka has acknowledged every message, so
  a crash in between sends the batch again rather than losing it.

``Runner`` (tracking.runner) drives followers: waiting, back-off, outages, single-active locks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from tracking.store import PositionConflict, Tx, ViewStore

if TYPE_CHECKING:
    from tracking.runner import Pulse

P = TypeVar("P")  # a position: a store position (int), or later a map of partition offsets
T = TypeVar("T")  # what a batch holds


@dataclass(frozen=True)
class Batch(Generic[P, T]):
    """Items after ``start``, up to and including ``end`` (which may lie past the last item:
    the stretch held nothing the follower reads)."""

    start: P
    end: P
    items: Sequence[T]

    @property
    def moves(self) -> bool:
        return bool(self.items) or self.end != self.start


class Source(Protocol[P, T]):
    def read(self, after: P, limit: int) -> Batch[P, T]:
        """The next batch after ``after`` (possibly empty)."""

    def wait(self, after: P, timeout: float) -> bool:
        """Block until something after ``after`` may be read, or ``timeout``; True on news."""

    def lag(self, position: P) -> int:
        """How many positions the source holds beyond ``position``."""

    def reset(self) -> None:
        """Forget connections after an outage (the next read opens fresh ones)."""


class Positions(Protocol[P]):
    """Where followers' positions are kept, in the same database as their views."""

    store: ViewStore

    def ensure(self, name: str) -> None: ...

    def load(self, name: str) -> P: ...

    def record(self, tx: Tx, name: str, start: P, end: P) -> None:
        """Move ``name`` from ``start`` to ``end`` inside ``tx``; raise ``PositionConflict``
        if another runner moved it first."""


class StorePositions:
    """Positions in the event store's order, one row per follower, moved by compare-and-set."""

    def __init__(self, store: ViewStore) -> None:
        self.store = store

    def ensure(self, name: str) -> None:
        self.store.ensure_position(name)

    def load(self, name: str) -> int:
        return self.store.position(name)

    def record(self, tx: Tx, name: str, start: int, end: int) -> None:
        tx.move_position(name, start, end)


Changes = Callable[[Tx], None]


class Commit(Protocol):
    def __call__(self, changes: Changes | None = None) -> None:
        """In one transaction: the follower's new position, then ``changes`` (if any)."""


class Handler(Protocol[P, T]):
    def handle(self, batch: Batch[P, T], commit: Commit, pulse: Pulse) -> None:
        """Act on ``batch`` and call ``commit`` exactly once when its effect is safe."""


class Follower(Generic[P, T]):
    def __init__(
        self,
        name: str,
        source: Source[P, T],
        positions: Positions[P],
        handler: Handler[P, T],
        batch_size: int = 500,
    ) -> None:
        self.name = name
        self.source = source
        self.positions = positions
        self.handler = handler
        self.batch_size = batch_size
        # The position this follower last read or recorded; None: ask the store. Another
        # runner moving it is caught by the compare-and-set, which makes us ask again.
        self._known: P | None = None

    def prepare(self) -> None:
        self.positions.ensure(self.name)

    def position(self) -> P:
        if self._known is None:
            self._known = self.positions.load(self.name)
        return self._known

    def forget(self) -> None:
        """Ask the store for the position next time (after an error or a conflict)."""
        self._known = None

    def lag(self) -> int:
        return self.source.lag(self.positions.load(self.name))

    def step(self, pulse: Pulse) -> int | None:
        """Handle the next batch; returns how many items it held, None when there was nothing
        to do. A batch another runner recorded first is rolled back and counts as progress (we
        go on from where it got to)."""
        try:
            return self._step(pulse)
        except BaseException:
            self.forget()
            raise

    def _step(self, pulse: Pulse) -> int | None:
        batch = self.source.read(self.position(), self.batch_size)
        if not batch.moves:
            return None
        committed: list[bool] = []

        def commit(changes: Changes | None = None) -> None:
            if committed:
                raise RuntimeError(f"{self.name} committed one batch twice")
            with self.positions.store.transaction() as tx:
                # The position first: a second runner of the same follower (a standby `sscard
                # run` on PostgreSQL) then waits on the position's row and finds it moved,
                # instead of colliding on the rows the first one is writing (the log chain's
                # key: a worker failure and a traceback).
                self.positions.record(tx, self.name, batch.start, batch.end)
                if changes is not None:
                    changes(tx)
            committed.append(True)

        try:
            self.handler.handle(batch, commit, pulse)
        except PositionConflict as conflict:
            pulse.note(
                f"another runner of {self.name} recorded this stretch first ({conflict}); "
                "following it"
            )
            self.forget()
            return 0
        if not committed:
            raise RuntimeError(f"{self.name}'s handler returned without recording its batch")
        self._known = batch.end
        return len(batch.items)
