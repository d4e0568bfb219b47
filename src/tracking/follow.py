"""The one mechanism every follower of the store shares: read from a position, apply, record.

A projection never knows whether its events come from a replay of the store or (later) from
Kafka; it only sees ``apply(event, tx)`` inside the transaction that also moves its position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.event import DomainEvent
from tracking.source import EventSource
from tracking.store import PositionConflict, Tx, ViewStore


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
