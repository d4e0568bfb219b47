"""Read-your-writes: whether a read model has reached a store position a command answered.

A command answers the store position of its event (``store_position``). The read models are fed
from Kafka, where the relay publishes each event keyed by its stream (a holder's, a claim's), so a
stream's events reach a view in store order, but events of different streams travel on different
partitions and reach it in no global order; a view's Kafka offsets say nothing of store
positions. What a view does record, in the transaction of each change, is the last version it
applied of every stream (``tracking.envelopes.versions_table``).

So a view has *reached* store position P when it holds the event recorded at P: the version of
P's stream that it has applied is at least P's version. It then holds every earlier event of that
stream too (a holder's or a claim's whole story up to the write), whichever feed brought them; it
says nothing of other streams' events before P. An event the view does not read (a claim's event
asked of the outlet queue; the store's own bookkeeping) is nothing to wait for: reached at once.
A position where the store holds no event is bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.utils import resolve_topic
from sqlalchemy import select

from application.view_results import ViewBehindRefusal
from contract.envelope import FEED_EVENTS, Feed
from domain.errors import DomainError, InvalidInput
from projections.claims import ClaimsView
from projections.lifecycle import LifecycleAnalytics
from projections.outlet_queue import OutletQueue
from projections.settlement_blocklist import SettlementBlocklist
from service.bootstrap import BackOffice
from tracking.envelopes import versions_table

# What a query may wait for, and for how long at most (seconds): a request that waits holds
# no worker thread (the HTTP API polls between reads), but a client must not hold it forever.
MAX_WAIT_SECONDS = 30.0
DEFAULT_WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05

_FEEDS: dict[str, tuple[Feed, ...]] = {
    model.name: tuple(model.feeds)
    for model in (OutletQueue, SettlementBlocklist, LifecycleAnalytics, ClaimsView)
}


class UnknownPosition(InvalidInput):
    code = "unknown_position"


class ViewBehind(DomainError):
    """The view had not reached the position when the wait ran out (HTTP 409, ``view_behind``):
    nothing is wrong with the request; asked again later, it will be answered."""

    code = "view_behind"

    def __init__(self, answer: ViewBehindRefusal) -> None:
        super().__init__(answer.message)
        self.answer = answer


@dataclass(frozen=True)
class AwaitedEvent:
    """The event at the asked position, as a view records it: its stream and version."""

    position: int
    stream_id: UUID
    version: int


def awaited_event(backoffice: BackOffice, view: str, position: int) -> AwaitedEvent | None:
    """The event ``view`` must hold to have reached ``position``; None when the view never reads
    the event there (nothing to wait for). A position holding no event is refused."""
    found = backoffice.source.notifications(position - 1, 1)
    if not found or found[0].id != position:
        raise UnknownPosition(f"after: the store holds no event at position {position}")
    notification = found[0]
    event_type = resolve_topic(notification.topic)
    read = {t for feed in _FEEDS[view] for t in FEED_EVENTS[feed]}
    if event_type not in read:
        return None
    stream_id = UUID(str(notification.originator_id))
    return AwaitedEvent(position, stream_id, notification.originator_version)


def applied_version(backoffice: BackOffice, view: str, stream_id: UUID) -> int:
    """The last version of the stream the view has applied (0: none yet)."""
    v = versions_table.c
    with backoffice.views.reading() as tx:
        if not tx.has_table(versions_table.name):
            return 0
        row = tx.execute(
            select(v.version).where(v.view == view, v.stream_id == str(stream_id))
        ).first()
    return 0 if row is None else int(row[0])


def view_behind(
    backoffice: BackOffice, view: str, awaited: AwaitedEvent, applied: int, waited: float
) -> ViewBehind:
    """The refusal once the wait ran out: how far the view and the relay had got."""
    published = backoffice.views.position("relay")
    where = (
        "the relay has not published it yet"
        if published < awaited.position
        else "published; the view's consumer has not applied it yet"
    )
    return ViewBehind(
        ViewBehindRefusal(
            message=f"the {view} view had not reached store position {awaited.position} after "
            f"{waited:g} s ({where}); ask again",
            view=view,
            after=awaited.position,
            stream_version_wanted=awaited.version,
            stream_version_applied=applied,
            relay_published_through=published,
            waited_seconds=round(waited, 3),
        )
    )
