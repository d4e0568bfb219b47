"""The read models wired to the settings: their consumers under ``sscard run``, and the
settings' side of ``sscard replay`` / ``sscard verify`` (``replay.views``): where the stores
are, the read models as configured, and whether the live views' consumers have caught up with
Kafka before a comparison (a replay itself never asks Kafka)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from consumers import dead_letters
from consumers.runner import ViewConsumer
from contract.envelope import CARD_EVENTS, CLAIM_EVENTS, Feed
from projections.catalogue import VIEW_NAMES
from replay import views as store_replay
from replay.rebuilds import Progress, no_progress
from replay.views import Feeding, ReplayReport, VerifyReport
from service.kafka_wiring import TopicsGate, client_config, topics
from service.replay_wiring import ReplayWiring, models
from service.settings import Settings
from service.supervisor import Worker
from service.workers import wait_for_back_office
from store.opened import OpenedStore
from tracking.board import Board
from tracking.envelopes import ReadModel
from tracking.partition_offsets import KafkaPositions
from tracking.store import ViewStore

log = logging.getLogger(__name__)


def model_named(settings: Settings, name: str) -> ReadModel:
    return models(settings)[name]


def replay(
    settings: Settings, name: str, progress: Progress = no_progress, workers: int = 1
) -> ReplayReport:
    """Rebuild ``name`` from the store (no Kafka) and swap it into the live view."""
    return replay_views(settings, [name], progress, workers)[0]


def replay_views(
    settings: Settings,
    names: Sequence[str] = VIEW_NAMES,
    progress: Progress = no_progress,
    workers: int = 1,
) -> list[ReplayReport]:
    """``replay.views.replay_views`` on the settings' stores."""
    return store_replay.replay_views(ReplayWiring(settings), names, progress, workers)


def verify(
    settings: Settings,
    names: Sequence[str] = VIEW_NAMES,
    wait: float = 60.0,
    show: int = 10,
    progress: Callable[[str, int, int], None] | None = None,
    workers: int = 1,
) -> list[VerifyReport]:
    """``replay.views.verify`` on the settings' stores, after waiting up to ``wait`` seconds
    for the relay and the views' consumers to catch up."""

    def caught_up(backoffice: OpenedStore, model: ReadModel) -> Feeding:
        return _wait_until_caught_up(settings, backoffice, model, wait)

    return store_replay.verify(ReplayWiring(settings), names, caught_up, show, progress, workers)


def feed_topic(settings: Settings, feed: Feed) -> str:
    names = topics(settings)
    return {CARD_EVENTS: names.card_events, CLAIM_EVENTS: names.reimbursement_events}[feed]


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
    settings: Settings, backoffice: OpenedStore, model: ReadModel, timeout: float
) -> Feeding:
    """Until the relay has published the head and the view's consumers have read the topic to
    its end (a view fed by replays alone, with no consumer offsets, needs no wait). Returns the
    notes and the messages the consumers are still behind (None: not checked)."""
    notes: list[str] = []
    behind: int | None = None
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
            behind = (behind or 0) + lag
            if lag:
                notes.append(f"the {model.name} consumer is {lag} messages behind Kafka ({feed})")
        except Exception as exc:
            notes.append(f"Kafka not reachable ({type(exc).__name__}): consumer lag not checked")
    depth = len(dead_letters.listed(backoffice.views, model.name))
    if depth:
        notes.append(f"{depth} messages are parked for {model.name} (sscard dead-letters list)")
    return Feeding(notes, behind)


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
        backoffice = wait_for_back_office(settings, stop, member)
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
