"""Read models rebuilt from the store, with no Kafka: ``sscard replay`` swaps the rebuild into
the live views, ``sscard verify`` compares the live views with it.

A replay feeds views from the store: every stored event of their feeds (card events, claim
events) becomes ``domain.disclosure.public_envelope``, the very dict the relay encodes as that
event's message value on its topic, so a view receives the same envelope dicts as from Kafka.
``replay_views`` and ``verify`` rebuild every view asked for in one pass, on one or more
processes (``replay.rebuilds``); ``rebuild`` feeds one view alone, batch by batch through the
follower (the per-view way, kept as the reference the one pass is held equal to). Views are
rebuilt in a scratch store (a temporary SQLite file beside the data, or a scratch PostgreSQL
schema), so the live view is never half rebuilt:

- ``replay_views`` then swaps the rebuilt rows into the live view in one transaction, holding
  the view's lock (its consumers wait), applies the few events stored since the rebuild ended,
  and keeps the consumers' offsets: what they read next is either newer than the rebuild
  (applied) or already in it (dropped by its stream version).
- ``verify`` waits until what feeds the live views has caught up (``CaughtUp``, given by the
  composition root), then compares each live view with the rebuild row by row and digest by
  digest (``replay.comparisons``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from consumers import dead_letters
from contract.envelope import CARD_EVENTS, Envelope, Feed
from projections.catalogue import VIEW_NAMES
from replay.comparisons import TableComparison, compare_tables, copy_view
from replay.rebuilds import Progress, all_tables, no_progress, rebuild_views, scratch_place
from replay.wiring import Wiring
from store.location import StoreLocation
from store.opened import OpenedStore
from tracking.envelopes import EnvelopeHandler, ReadModel, apply_all, store_feed, view_tables
from tracking.follow import Follower, StorePositions
from tracking.partition_offsets import offsets_table
from tracking.runner import Pulse
from tracking.source import StoreEventSource, StoreFeed
from tracking.store import Tx, ViewStore

log = logging.getLogger(__name__)


def replay_feed(
    source: StoreEventSource, feeds: Sequence[Feed] = (CARD_EVENTS,)
) -> StoreFeed[Envelope]:
    """The store as a read model of ``feeds`` sees it: the public envelope of every event the
    relay publishes on those topics, in store order."""
    return store_feed(source, feeds)


def rebuild(
    source: StoreEventSource,
    store: ViewStore,
    model: ReadModel,
    up_to: int | None = None,
    progress: Progress = no_progress,
    batch_size: int = 2_000,
) -> int:
    """Feed ``model`` in ``store`` from the store's position for it up to ``up_to`` (default: the
    head), each batch with its position. Returns the store position reached."""
    store.create(view_tables(model))
    positions = StorePositions(store)
    positions.ensure(model.name)
    feed = replay_feed(source, model.feeds)
    start = positions.load(model.name)
    # A scratch store at position 0 holds nothing yet: the rebuild is its only writer.
    handler = EnvelopeHandler(model, into_empty=start == 0)
    follower: Follower[int, Envelope] = Follower(model.name, feed, positions, handler, batch_size)
    target = source.head() if up_to is None else up_to
    pulse = Pulse.quiet()
    progress(0, target - start)
    while follower.position() < target:
        if follower.step(pulse) is None:
            break
        progress(min(follower.position(), target) - start, target - start)
    return follower.position()


# ---- scratch stores ---------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_store(location: StoreLocation) -> Iterator[ViewStore]:
    """An empty view store of the same kind as the live one, removed afterwards."""
    with scratch_place(location) as place:
        store = place.open(location)
        try:
            yield store
        finally:
            store.close()


# ---- replay -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayReport:
    view: str
    position: int  # the store position the live view now reflects
    rows: int
    events_after_rebuild: int
    dead_letters_cleared: int
    seconds: float


def replay_views(
    wiring: Wiring,
    names: Sequence[str] = VIEW_NAMES,
    progress: Progress = no_progress,
    workers: int = 1,
) -> list[ReplayReport]:
    """Rebuild ``names`` from the store in one pass (no Kafka), then swap them into the live
    views in one transaction that holds their locks."""
    started = time.perf_counter()
    all_models = wiring.read_models()
    chosen = [all_models[name] for name in names]
    with (
        contextlib.closing(wiring.open_store()) as backoffice,
        scratch_place(wiring.location) as place,
    ):
        live = backoffice.views
        live.create((*all_tables(chosen), offsets_table, dead_letters.dead_letters_table))
        scratch = place.open(wiring.location)
        try:
            rebuilt_to = rebuild_views(
                wiring,
                backoffice.source,
                place,
                scratch,
                chosen,
                workers=workers,
                progress=progress,
            )
            done = []
            with live.transaction() as tx:
                for model in chosen:
                    tx.lock_view(model.name, exclusive=True)
                for model in chosen:
                    done.append(_swap(backoffice.source, scratch, tx, model, rebuilt_to))
                # The rows swapped out may hold what an erasure has blanked since (their
                # images in the WAL too): none is left once the swap commits.
                tx.scrub_after_commit()
        finally:
            scratch.close()
    seconds = time.perf_counter() - started
    return [
        ReplayReport(model.name, position, rows, later, cleared, seconds)
        for model, (position, rows, later, cleared) in zip(chosen, done, strict=True)
    ]


def _swap(
    source: StoreEventSource, scratch: ViewStore, tx: Tx, model: ReadModel, rebuilt_to: int
) -> tuple[int, int, int, int]:
    """The rebuilt rows in place of the live ones; returns (position, rows, events applied
    after the rebuild, dead letters cleared)."""
    rows = copy_view(scratch, tx, view_tables(model), model.name)
    # Stored after the rebuild ended (and maybe applied by a consumer since): applied here, in
    # the swap, so that nothing a consumer applied is lost by it.
    feed = replay_feed(source, model.feeds)
    position, later = rebuilt_to, 0
    while (batch := feed.read(position, 500)).moves:
        later += apply_all(model, batch.items, tx)
        position = batch.end
    cleared = dead_letters.forget_consumer(tx, model.name)
    return position, rows, later, cleared


# ---- verify -----------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    view: str
    position: int
    tables: list[TableComparison]
    notes: list[str] = field(default_factory=list)
    # Messages its consumers had not applied when the wait ran out (None: not checked): a
    # difference then may be the lag, not a wrong view.
    consumer_lag: int | None = None

    @property
    def equal(self) -> bool:
        return all(t.equal for t in self.tables)


@dataclass(frozen=True)
class Feeding:
    """What feeds a live view, against the store: notes for people (the relay behind, a consumer
    lagging, messages parked) and the messages its consumers are behind (None: not checked)."""

    notes: list[str] = field(default_factory=list)
    consumer_lag: int | None = None


# Waits until what feeds the live view has caught up with the store, and says what has not. The
# composition root gives one that asks Kafka; a replay itself never does.
CaughtUp = Callable[[OpenedStore, ReadModel], Feeding]


def nothing_to_wait_for(store: OpenedStore, model: ReadModel) -> Feeding:
    """For a view fed by replays alone."""
    del store, model
    return Feeding()


def verify(
    wiring: Wiring,
    names: Sequence[str] = VIEW_NAMES,
    caught_up: CaughtUp = nothing_to_wait_for,
    show: int = 10,
    progress: Callable[[str, int, int], None] | None = None,
    workers: int = 1,
) -> list[VerifyReport]:
    """Rebuild the views in one pass into a scratch store and compare each with the live one."""
    all_models = wiring.read_models()
    chosen = [all_models[name] for name in names]
    step: Progress = no_progress
    if progress is not None:
        step = _named(progress, ", ".join(names))
    reports: list[VerifyReport] = []
    with contextlib.closing(wiring.open_store()) as backoffice:
        backoffice.views.create(
            (*all_tables(chosen), offsets_table, dead_letters.dead_letters_table)
        )
        for attempt in range(3):
            feeding = {m.name: caught_up(backoffice, m) for m in chosen}
            head = backoffice.source.head()
            with scratch_place(wiring.location) as place:
                scratch = place.open(wiring.location)
                try:
                    position = rebuild_views(
                        wiring, backoffice.source, place, scratch, chosen, head, workers, step
                    )
                    reports = []
                    with backoffice.views.reading() as live, scratch.reading() as rebuilt:
                        for model in chosen:
                            tables = compare_tables(
                                live, rebuilt, view_tables(model), model.name, show
                            )
                            fed = feeding[model.name]
                            reports.append(
                                VerifyReport(
                                    model.name, position, tables, fed.notes, fed.consumer_lag
                                )
                            )
                finally:
                    scratch.close()
            moved = backoffice.source.head() != head
            if all(r.equal for r in reports) or not moved or attempt == 2:
                break
            log.info("the store moved while comparing; again")
    return reports


def _named(progress: Callable[[str, int, int], None], name: str) -> Progress:
    return lambda done, total: progress(name, done, total)
