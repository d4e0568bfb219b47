"""What a replay needs of the composition root, which builds it from the settings
(``service.replay_wiring.ReplayWiring``): where the stores live, the store opened, and the read
models as configured. A rebuild split over processes sends it, pickled, to each worker
process, which opens the store with it: an implementation is a class defined at a module's top
level."""

from __future__ import annotations

from typing import Protocol

from store.location import StoreLocation
from store.opened import OpenedStore
from tracking.envelopes import ReadModel


class Wiring(Protocol):
    @property
    def location(self) -> StoreLocation: ...

    def open_store(self) -> OpenedStore:
        """The event store and the live view store, open (the caller closes them)."""
        ...

    def read_models(self) -> dict[str, ReadModel]:
        """Every read model, by name, as this deployment configures them."""
        ...
