"""What the store's own jobs (erasure, migration, the log chain) need of an opened store: the
office writing it, its data keys, the view store beside it and the feed of its records. The
composition root's ``BackOffice`` is one; the store never opens itself from the settings."""

from __future__ import annotations

from typing import Protocol

from domain.application import CardOffice
from store.protection import PersonalData
from tracking.source import StoreEventSource
from tracking.store import ViewStore


class OpenedStore(Protocol):
    @property
    def office(self) -> CardOffice: ...

    @property
    def views(self) -> ViewStore: ...

    @property
    def source(self) -> StoreEventSource: ...

    @property
    def personal_data(self) -> PersonalData: ...

    def close(self) -> None: ...
