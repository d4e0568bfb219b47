"""Where a command's event sits in the store's log: its store position (the notification id),
which a command answers so that a client can ask a read model to have reached it
(``application.view_positions``: read-your-writes).

The store position is the log's total order, the one the relay publishes in and every envelope
carries (``contract.envelope``: ``position``); a holder's ``version`` counts their stream only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:  # the office is passed in; its module loads the event store library
    from domain.application import CardOffice
    from domain.event import DomainEvent


def store_position(office: CardOffice, event: DomainEvent | None) -> int | None:
    """The store position of a recorded event (one just written, or the earlier one a retry or
    a repeat is answered with); None without an event, or on a store that keeps no log (the
    in-memory store of unit tests)."""
    if event is None:
        return None
    return position_of(office, event.originator_id, event.originator_version)


def position_of(office: CardOffice, stream_id: UUID, version: int) -> int | None:
    # The store's own record of the event, read by its primary key (stream, version).
    from store.persistence import personal_data_of  # noqa: PLC0415 (loads the drivers)

    record = personal_data_of(office).table.record(stream_id, version)
    return record.position if record is not None and record.position > 0 else None
