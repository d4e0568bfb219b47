"""What a replay needs of the composition root (``replay.wiring.Wiring``), from the settings.

Kept light: each worker process of a split rebuild imports this module to unpickle its share,
and pays for every import here at its start (no Kafka client, no consumers)."""

from __future__ import annotations

from dataclasses import dataclass

from projections.catalogue import read_models
from projections.public_fields import zones_of
from service.bootstrap import BackOffice, open_back_office, region_policies, store_location
from service.settings import Settings
from store.location import StoreLocation
from tracking.envelopes import ReadModel


def models(settings: Settings) -> dict[str, ReadModel]:
    """Every read model, by name, with the settings' region policies."""
    return read_models(zones_of(region_policies(settings)))


@dataclass(frozen=True)
class ReplayWiring:
    """``replay.wiring.Wiring`` from the settings (pickled to a rebuild's worker processes)."""

    settings: Settings

    @property
    def location(self) -> StoreLocation:
        return store_location(self.settings)

    def open_store(self) -> BackOffice:
        return open_back_office(self.settings)

    def read_models(self) -> dict[str, ReadModel]:
        return models(self.settings)
