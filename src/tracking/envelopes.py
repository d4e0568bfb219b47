"""Read models over the public form of events: the one protocol every view implements (the
outlet queue, the blocklist, the claims view, the lifecycle analytics, the lapse schedule), and
how a batch of envelopes is applied to one, whatever its feed.

A read model receives each event as its ENVELOPE dict (``event_type``, ``stream_id``,
``stream_version``, ``position``, ``occurred_at``, ``actor``, ``outlet``, ``payload``): the parsed
JSON of a message on its public topic when fed from Kafka, or the very same dict built from the
store (``contract.envelope.public_envelope``) on a replay or by a follower of the store
(``store_follower``). It never sees a domain event and never knows which feed it has.

Each view records, per stream, the last version it applied (``sscard_view_versions``, in the same
transaction as the change): Kafka delivers at least once, and a message seen again (a relay that
resent a batch, a consumer that re-read after a crash or a rebuild) is dropped here, never
applied twice.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import BigInteger, Column, Table, Text, literal, select, update

from contract.envelope import FEED_EVENTS, Envelope, Feed, public_envelope
from domain.cardholder.events import HolderErased
from tracking.follow import Batch, Commit, Follower, StorePositions
from tracking.rows import Rows
from tracking.runner import Pulse
from tracking.source import StoreEventSource, StoreFeed
from tracking.store import Tx, ViewStore, metadata, positions_table

versions_table = Table(
    "sscard_view_versions",
    metadata,
    Column("view", Text, primary_key=True),
    Column("stream_id", Text, primary_key=True),
    Column("version", BigInteger, nullable=False),
    # Events of the stream applied: a view that applied one twice (or skipped one) differs
    # from its rebuild here even where its own rows would not show it.
    Column("events", BigInteger, nullable=False),
)


# Events after which a view holds no copy of a person's data: once the transaction that applied
# one commits, the view store keeps no earlier image of the rows it blanked (``Tx.scrub``).
ERASURES = frozenset({HolderErased.__name__})


# What one event type does to a view's rows.
Handler = Callable[[Envelope, Rows], None]
# What a part loads, in one query per table, for the rows a batch of events will touch.
Prefetch = Callable[[Sequence[Envelope], Rows], None]


@dataclass(frozen=True)
class Part:
    """One rule of a view over tables of its own, as a function per event type it reads: the
    types absent from ``handlers`` change nothing the part keeps, so a replay hands them no
    event at all (``replay.in_step``), and a consumer's apply skips them with one lookup.

    ``twin``: parts of different views whose keys are equal keep equal rows from the same events
    in tables of the same shape (the suspension windows, kept by the blocklist and by the claims
    view): a rebuild of both applies the first and copies its rows into the other's tables.

    ``prefetch``: loads the rows a batch will touch (an optimisation: ``Rows.get`` loads a row
    it does not hold, one query each); a part a rebuild copies rather than applies is not
    prefetched either."""

    tables: tuple[Table, ...]
    handlers: Mapping[str, Handler]
    twin: Hashable | None = field(default=None, compare=False)
    prefetch: Prefetch | None = field(default=None, compare=False)


def by_event_type(parts: Sequence[Part]) -> dict[str, tuple[Handler, ...]]:
    """Event type -> the handlers of ``parts`` that read it, in the parts' order."""
    routes: dict[str, list[Handler]] = {}
    for part in parts:
        for event_type, handler in part.handlers.items():
            routes.setdefault(event_type, []).append(handler)
    return {event_type: tuple(handlers) for event_type, handlers in routes.items()}


def prefetch_parts(parts: Sequence[Part], envelopes: Sequence[Envelope], rows: Rows) -> None:
    """A view's prefetch: each of its parts'."""
    for part in parts:
        if part.prefetch is not None:
            part.prefetch(envelopes, rows)


def apply_by_type(
    routes: Mapping[str, tuple[Handler, ...]], envelope: Envelope, rows: Rows
) -> None:
    """A view's apply: the handlers of its parts that read the event's type (``by_event_type``),
    none for a type it ignores."""
    for handler in routes.get(envelope["event_type"], ()):
        handler(envelope, rows)


class ReadModel(Protocol):
    """Pure apply logic over rows, and the tables it keeps."""

    name: str
    tables: Sequence[Table]
    # The public feeds it reads (``contract.envelope.CARD_EVENTS``, ``CLAIM_EVENTS``): the
    # topics it consumes under ``sscard run``, the events a replay of the store hands it.
    feeds: Sequence[Feed]
    # Tables whose rows sum over many streams (every column but the key a count or an amount):
    # the one place where a rebuild split by stream has to add the parts up. Every other row
    # belongs to one stream (a holder, a claim) or one card, which is one holder's.
    additive: Sequence[Table]
    # Its rules by event type, over ``tables`` between them: ``apply`` runs those of the
    # event's type (``apply_by_type``), and a rebuild of many views calls them directly.
    parts: Sequence[Part]

    def prefetch(self, envelopes: Sequence[Envelope], rows: Rows) -> None:
        """Load the rows the batch will touch: its parts' prefetches (``prefetch_parts``)."""

    def apply(self, envelope: Envelope, rows: Rows) -> None:
        """Change the rows as the event says; raise if it cannot be applied."""


def view_tables(model: ReadModel) -> tuple[Table, ...]:
    """Every table holding the view's state: its own, and its per-stream versions."""
    return (*model.tables, versions_table)


def load_versions(model: ReadModel, envelopes: Sequence[Envelope], rows: Rows) -> None:
    """The view's versions of the batch's streams."""
    rows.load(versions_table, [(model.name, e["stream_id"]) for e in envelopes])


def prefetch_versions(model: ReadModel, envelopes: Sequence[Envelope], rows: Rows) -> None:
    load_versions(model, envelopes, rows)
    model.prefetch(envelopes, rows)


def apply_once(model: ReadModel, envelope: Envelope, rows: Rows) -> bool:
    """Apply an event unless the view already holds it; False for a duplicate.

    On an error the rows are left as they were before this event."""
    key = (model.name, envelope["stream_id"])
    seen = rows.peek(versions_table, key)
    version = int(envelope["stream_version"])
    if seen is not None and version <= seen["version"]:
        return False
    mark = rows.mark()
    if envelope["event_type"] in ERASURES:
        rows.tx.scrub_after_commit()
    try:
        model.apply(envelope, rows)
        events = 1 if seen is None else seen["events"] + 1
        rows.put_known(
            versions_table,
            key,
            {"view": key[0], "stream_id": key[1], "version": version, "events": events},
        )
    except BaseException:
        rows.undo(mark)
        raise
    return True


def copy_versions(tx: Tx, model: ReadModel, to: ReadModel) -> None:
    """``to``'s stream versions made equal to ``model``'s (views rebuilt in step)."""
    v = versions_table.c
    tx.execute(versions_table.delete().where(v.view == to.name))
    tx.execute(
        versions_table.insert().from_select(
            ["view", "stream_id", "version", "events"],
            select(literal(to.name), v.stream_id, v.version, v.events).where(v.view == model.name),
        )
    )


def apply_all(
    model: ReadModel, envelopes: Sequence[Envelope], tx: Tx, rows: Rows | None = None
) -> int:
    """Apply a batch in one transaction; an event that cannot be applied fails the batch.
    ``rows``: a rebuild's complete cache, carried from the previous batch."""
    rows = Rows(tx) if rows is None else rows.begin(tx)
    prefetch_versions(model, envelopes, rows)
    applied = 0
    for envelope in envelopes:
        try:
            applied += apply_once(model, envelope, rows)
        except Exception as exc:
            raise ApplyFailed(model.name, envelope, exc) from exc
    rows.flush()
    return applied


class ApplyFailed(RuntimeError):
    """A stored event the view cannot apply (a replay stops there and says which)."""

    def __init__(self, view: str, envelope: Envelope, cause: BaseException) -> None:
        super().__init__(
            f"{view} cannot apply {envelope.get('event_type')} at position "
            f"{envelope.get('position')} (stream {envelope.get('stream_id')} "
            f"v{envelope.get('stream_version')}): {cause}"
        )


class EnvelopeHandler:
    """Applies a batch of envelopes (a replay of the store) inside the transaction that records
    the batch's store position."""

    def __init__(self, model: ReadModel, into_empty: bool = False) -> None:
        self._model = model
        # Rebuilding into empty tables: nobody else writes them, so one cache serves every
        # batch and never asks the database for a row it does not hold.
        self._into_empty = into_empty
        self._rows: Rows | None = None

    def handle(self, batch: Batch[int, Envelope], commit: Commit, pulse: Pulse) -> None:
        del pulse

        def apply(tx: Tx) -> None:
            if self._into_empty and self._rows is None:
                self._rows = Rows(tx, complete=True)
            apply_all(self._model, batch.items, tx, self._rows)

        try:
            commit(apply)
        except BaseException:
            self._rows, self._into_empty = None, False  # it may hold what was rolled back
            raise


# ---- read models fed from the store -----------------------------------------------------------


def store_feed(source: StoreEventSource, feeds: Sequence[Feed]) -> StoreFeed[Envelope]:
    """The store as a read model of ``feeds`` sees it: the public envelope of every event the
    relay publishes on those topics, in store order."""
    types = tuple(t for feed in feeds for t in FEED_EVENTS[feed])
    return StoreFeed(source, lambda n: public_envelope(source.stored_form(n, True)), types)


def store_follower(
    source: StoreEventSource, store: ViewStore, model: ReadModel, batch_size: int = 500
) -> Follower[int, Envelope]:
    """A read model following the store itself (the lapse schedule), its position kept in
    ``store`` with its view."""
    feed = store_feed(source, model.feeds)
    return Follower(model.name, feed, StorePositions(store), EnvelopeHandler(model), batch_size)


def prepare(store: ViewStore, model: ReadModel) -> None:
    """The view's tables and its position, created if missing."""
    store.create(view_tables(model))
    store.ensure_position(model.name)


def reset(store: ViewStore, model: ReadModel) -> None:
    """Forget the view's rows, the stream versions it applied and its position, in one
    transaction, so that it is rebuilt from position 0 (its versions left behind, it would
    drop every event as one it already holds)."""
    with store.transaction() as tx:
        for table in model.tables:
            tx.execute(table.delete())
        tx.execute(versions_table.delete().where(versions_table.c.view == model.name))
        p = positions_table.c
        tx.execute(update(positions_table).where(p.name == model.name).values(position=0))


def catch_up(
    source: StoreEventSource, store: ViewStore, model: ReadModel, batch_size: int = 500
) -> int:
    """Apply every event after the view's position up to the head, batch by batch, each batch
    with its position. Returns the number of events handed to the view."""
    follower = store_follower(source, store, model, batch_size)
    pulse = Pulse.quiet()
    applied = 0
    while (handled := follower.step(pulse)) is not None:
        applied += handled
    return applied
