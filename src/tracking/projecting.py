"""Read models fed from the store: a projection's follower, its tables, and a one-off catch-up
(a rebuild from position 0 is ``reset`` then ``catch_up``)."""

from __future__ import annotations

from tracking.follow import Follower, Projection, ProjectionHandler, StorePositions
from tracking.runner import Pulse
from tracking.source import Positioned, StoreEventSource, StoreFeed
from tracking.store import ViewStore


def projection_follower(
    source: StoreEventSource, store: ViewStore, projection: Projection, batch_size: int = 500
) -> Follower[int, Positioned]:
    feed = StoreFeed(source, source.positioned, projection.types)
    return Follower(
        projection.name, feed, StorePositions(store), ProjectionHandler(projection), batch_size
    )


def prepare(store: ViewStore, projection: Projection) -> None:
    store.create(projection.tables)
    store.ensure_position(projection.name)


def catch_up(
    source: StoreEventSource,
    store: ViewStore,
    projection: Projection,
    batch_size: int = 500,
) -> int:
    """Apply every event after the projection's position up to the head, batch by batch, each
    batch with its position. Returns the number of events applied."""
    follower = projection_follower(source, store, projection, batch_size)
    pulse = Pulse.quiet()
    applied = 0
    while (handled := follower.step(pulse)) is not None:
        applied += handled
    return applied
