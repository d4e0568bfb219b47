"""The read models wired to the settings: their consumers under ``sscard run``, and the audit
of ``sscard replay`` / ``sscard verify``.

A replay feeds views from the store: every stored event of their feeds (card events, claim
events) becomes ``contract.envelope.public_envelope``, the very dict the relay encodes as that
event's message value on its topic, so a view receives the same envelope dicts as from Kafka.
``replay`` and ``verify`` rebuild every view asked for in one pass, on one or more processes
(``service.rebuilds``); ``rebuild`` feeds one view alone, batch by batch through the follower
(the per-view way, kept as the reference the one pass is held equal to). A view reading two
topics has one consumer per topic under ``sscard run``. Views are rebuilt in a scratch store (a
temporary SQLite file beside the data, or a scratch PostgreSQL schema), so the live view is
never half rebuilt:

- ``replay`` then swaps the rebuilt rows into the live view in one transaction, holding the
  view's lock (its consumers wait), applies the few events stored since the rebuild ended, and
  keeps the consumers' offsets: what they read next is either newer than the rebuild (applied)
  or already in it (dropped by its stream version).
- ``verify`` waits until the relay and the view's consumers have caught up, then compares the
  live view with the rebuild row by row and digest by digest.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from consumers import dead_letters
from consumers.runner import ViewConsumer
from contract.envelope import CARD_EVENTS, CLAIM_EVENTS, Envelope, Feed
from projections.catalogue import VIEW_NAMES
from service.bootstrap import BackOffice, build
from service.kafka_wiring import TopicsGate, client_config, topics
from service.rebuilds import all_tables, models_of, rebuild_views, scratch_place
from service.settings import Settings
from service.supervisor import Worker
from service.workers import built
from tracking.audit import TableComparison, compare_tables, copy_view
from tracking.board import Board
from tracking.envelopes import EnvelopeHandler, ReadModel, apply_all, store_feed, view_tables
from tracking.follow import Follower, StorePositions
from tracking.partition_offsets import KafkaPositions, offsets_table
from tracking.runner import Pulse
from tracking.source import StoreEventSource, StoreFeed
from tracking.store import Tx, ViewStore

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (events applied so far, events to apply)


def models(settings: Settings) -> dict[str, ReadModel]:
    return models_of(settings)


def model_named(settings: Settings, name: str) -> ReadModel:
    return models(settings)[name]


def replay_feed(
    source: StoreEventSource, feeds: Sequence[Feed] = (CARD_EVENTS,)
) -> StoreFeed[Envelope]:
    """The store as a read model of ``feeds`` sees it: the public envelope of every event the
    relay publishes on those topics, in store order."""
    return store_feed(source, feeds)


def feed_topic(settings: Settings, feed: Feed) -> str:
    names = topics(settings)
    return {CARD_EVENTS: names.card_events, CLAIM_EVENTS: names.reimbursement_events}[feed]


def _no_progress(done: int, total: int) -> None:
    del done, total


def rebuild(
    source: StoreEventSource,
    store: ViewStore,
    model: ReadModel,
    up_to: int | None = None,
    progress: Progress = _no_progress,
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
def scratch_store(settings: Settings) -> Iterator[ViewStore]:
    """An empty view store of the same kind as the live one, removed afterwards."""
    with scratch_place(settings) as place:
        store = place.open(settings)
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


def replay(
    settings: Settings, name: str, progress: Progress = _no_progress, workers: int = 1
) -> ReplayReport:
    """Rebuild ``name`` from the store (no Kafka) and swap it into the live view."""
    return replay_views(settings, [name], progress, workers)[0]


def replay_views(
    settings: Settings,
    names: Sequence[str] = VIEW_NAMES,
    progress: Progress = _no_progress,
    workers: int = 1,
) -> list[ReplayReport]:
    """Rebuild ``names`` from the store in one pass (no Kafka), then swap them into the live
    views in one transaction that holds their locks."""
    started = time.perf_counter()
    all_models = models(settings)
    chosen = [all_models[name] for name in names]
    with build(settings) as backoffice, scratch_place(settings) as place:
        live = backoffice.views
        live.create((*all_tables(chosen), offsets_table, dead_letters.dead_letters_table))
        scratch = place.open(settings)
        try:
            rebuilt_to = rebuild_views(
                settings,
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

    @property
    def equal(self) -> bool:
        return all(t.equal for t in self.tables)


def topic_end_offsets(settings: Settings, topic: str) -> dict[int, tuple[int, int]]:
    """partition -> (beginning offset, end offset) of ``topic``."""
    consumer = KafkaConsumer(
        **client_config(settings),
        group_id=None,
        client_id="sscard-offsets",
        request_timeout_ms=10_000,
        bootstrap_timeout_ms=3_000,
    )
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return {}
        ends = consumer.end_offsets(partitions)
        beginnings = consumer.beginning_offsets(partitions)
        return {tp.partition: (beginnings[tp], ends[tp]) for tp in partitions}
    finally:
        consumer.close()


def consumer_lag(offsets: dict[int, int], ends: dict[int, tuple[int, int]]) -> int:
    """Messages on the topic after what the consumer applied (or parked)."""
    behind = 0
    for partition, (beginning, end) in ends.items():
        last = offsets.get(partition)
        behind += max(end - (beginning if last is None else last + 1), 0)
    return behind


def _wait_until_caught_up(
    settings: Settings, backoffice: BackOffice, model: ReadModel, timeout: float
) -> list[str]:
    """Until the relay has published the head and the view's consumers have read the topic to
    its end (a view fed by replays alone, with no consumer offsets, needs no wait)."""
    notes: list[str] = []
    deadline = time.monotonic() + timeout
    head = backoffice.source.head()
    relay_position = backoffice.views.position("relay")
    while relay_position < head and time.monotonic() < deadline:
        time.sleep(0.2)
        relay_position = backoffice.views.position("relay")
    for feed in model.feeds:
        positions = KafkaPositions(backoffice.views, feed_topic(settings, feed))
        if not positions.load(model.name):
            continue
        if relay_position < head and not notes:
            notes.append(f"the relay is {head - relay_position} events behind the store")
        try:
            ends = topic_end_offsets(settings, positions.topic)
            while (lag := consumer_lag(positions.load(model.name), ends)) and (
                time.monotonic() < deadline
            ):
                time.sleep(0.2)
            if lag:
                notes.append(f"the {model.name} consumer is {lag} messages behind Kafka ({feed})")
        except Exception as exc:
            notes.append(f"Kafka not reachable ({type(exc).__name__}): consumer lag not checked")
    depth = len(dead_letters.listed(backoffice.views, model.name))
    if depth:
        notes.append(f"{depth} messages are parked for {model.name} (sscard dead-letters list)")
    return notes


def verify(
    settings: Settings,
    names: Sequence[str] = VIEW_NAMES,
    wait: float = 60.0,
    show: int = 10,
    progress: Callable[[str, int, int], None] | None = None,
    workers: int = 1,
) -> list[VerifyReport]:
    """Rebuild the views in one pass into a scratch store and compare each with the live one."""
    all_models = models(settings)
    chosen = [all_models[name] for name in names]
    step: Progress = _no_progress
    if progress is not None:
        step = _named(progress, ", ".join(names))
    reports: list[VerifyReport] = []
    with build(settings) as backoffice:
        backoffice.views.create(
            (*all_tables(chosen), offsets_table, dead_letters.dead_letters_table)
        )
        for attempt in range(3):
            notes = {m.name: _wait_until_caught_up(settings, backoffice, m, wait) for m in chosen}
            head = backoffice.source.head()
            with scratch_place(settings) as place:
                scratch = place.open(settings)
                try:
                    position = rebuild_views(
                        settings, backoffice.source, place, scratch, chosen, head, workers, step
                    )
                    reports = []
                    with backoffice.views.reading() as live, scratch.reading() as rebuilt:
                        for model in chosen:
                            tables = compare_tables(
                                live, rebuilt, view_tables(model), model.name, show
                            )
                            reports.append(
                                VerifyReport(model.name, position, tables, notes[model.name])
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


# ---- consumers under sscard run ----------------------------------------------------------------


def consumer_group(settings: Settings, view: str, feed: Feed = CARD_EVENTS) -> str:
    """One group per view and topic (a view's card-events group keeps its first name)."""
    return f"{settings.topic_prefix}.view.{worker_name(view, feed)}"


def worker_name(view: str, feed: Feed) -> str:
    """The worker (and group member) of a view's consumer of one feed."""
    return view if feed == CARD_EVENTS else f"{view}.{feed}"


def new_kafka_consumer(
    settings: Settings, view: str, batch_size: int, feed: Feed = CARD_EVENTS
) -> Any:
    return KafkaConsumer(**kafka_consumer_config(settings, view, batch_size, feed))


def kafka_consumer_config(
    settings: Settings, view: str, batch_size: int, feed: Feed = CARD_EVENTS
) -> dict[str, Any]:
    member = worker_name(view, feed)
    return {
        **client_config(settings),
        "group_id": consumer_group(settings, view, feed),
        "client_id": f"sscard-{member}",
        "enable_auto_commit": False,  # offsets live in the view store, with the view
        "auto_offset_reset": "earliest",
        "max_poll_records": batch_size,
        # A consumer killed without leaving the group gives its partitions up this soon (a
        # static member, SSCARD_CONSUMER_INSTANCE, takes them back at once on its restart).
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 3_000,
        # A member that joined before it knew the topic's partitions is assigned none, and
        # learns of them at the next metadata refresh (five minutes by default): a rebalance
        # then gives it its share. Seen in tests right after the topic was created.
        "metadata_max_age_ms": 5_000,
        "request_timeout_ms": 10_000,
        "bootstrap_timeout_ms": 3_000,
        "group_instance_id": (
            f"{settings.consumer_instance}-{member}" if settings.consumer_instance else None
        ),
    }


def group_member_count(settings: Settings, group: str) -> int:
    """How many members a consumer group has now (asked only of a member holding nothing)."""
    admin = KafkaAdminClient(
        **client_config(settings),
        client_id="sscard-admin",
        request_timeout_ms=5_000,
        bootstrap_timeout_ms=3_000,
    )
    try:
        described = admin.describe_groups([group])
    finally:
        admin.close()
    return len(described[group]["members"])


class DeadLetterPublisher:
    """Puts parked messages on the dead-letter topic (after the commit that parked them)."""

    def __init__(self, settings: Settings, store: ViewStore, view: str) -> None:
        self._settings = settings
        self._store = store
        self._view = view
        self._producer: Any = None

    def __call__(self) -> int:
        if self._producer is None:
            self._producer = KafkaProducer(
                **client_config(self._settings),
                acks="all",
                client_id=f"sscard-{self._view}-dead-letters",
                bootstrap_timeout_ms=3_000,
            )
        topic = topics(self._settings).dead_letter
        producer = self._producer
        return dead_letters.publish_pending(
            self._store,
            self._view,
            lambda _consumer, key, value: producer.send(topic, key=key or None, value=value),
            lambda: producer.flush(timeout=10),
        )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=1)
            self._producer = None


def view_consumer(
    settings: Settings,
    store: ViewStore,
    name: str,
    feed: Feed | None = None,
    gate: TopicsGate | None = None,
) -> ViewConsumer:
    """The consumer of ``name`` on one of its feeds (default: its first); with ``gate``, it
    joins its group only once the topics exist."""
    model = model_named(settings, name)
    feed = model.feeds[0] if feed is None else feed
    batch = settings.consumer_batch_size
    return ViewConsumer(
        model,
        store,
        feed_topic(settings, feed),
        lambda: new_kafka_consumer(settings, name, batch, feed),
        batch_size=batch,
        publish_dead_letters=DeadLetterPublisher(settings, store, name),
        ensure_topics=gate,
        group_members=lambda: group_member_count(settings, consumer_group(settings, name, feed)),
    )


def view_worker(
    settings: Settings, name: str, feed: Feed | None = None, gate: TopicsGate | None = None
) -> Worker:
    feed = model_named(settings, name).feeds[0] if feed is None else feed
    gate = TopicsGate(settings) if gate is None else gate
    member = worker_name(name, feed)

    def run(stop: threading.Event) -> None:
        backoffice = built(settings, stop, member)
        if backoffice is None:
            return
        with backoffice:
            consumer = view_consumer(settings, backoffice.views, name, feed, gate)
            try:
                consumer.runner(Board(backoffice.views, member), member).run(stop)
            finally:
                consumer.close()

    return Worker(member, run)


def view_workers(
    settings: Settings, names: Sequence[str] = VIEW_NAMES, gate: TopicsGate | None = None
) -> list[Worker]:
    """One worker per view and feed, all behind one gate (the topics exist before any joins)."""
    all_models = models(settings)
    gate = TopicsGate(settings) if gate is None else gate
    return [
        view_worker(settings, name, feed, gate) for name in names for feed in all_models[name].feeds
    ]
