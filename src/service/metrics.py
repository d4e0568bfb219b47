"""The back office's numbers, for ``sscard status`` and Prometheus (``sscard run``).

- store head, the relay's lag, each store follower's lag (the lapse schedule);
- each read model's consumer lag: messages on ``sscard.card-events`` after its offsets;
- dead-letter depth per read model, pending lapses;
- commands recorded, by event type, and commands refused, by reason.

Commands run in other processes (every ``sscard`` command is a process of its own), so nothing
is counted in memory. Recorded commands are derived from the events themselves: a small follower
of the store counts them by type (``sscard_event_counts``), exact whoever wrote them. A refusal
leaves no event, so the CLI counts it, best effort, in ``sscard_refusals`` (the view store; the
event store is untouched by a refusal).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from eventsourcing.persistence import Notification
from eventsourcing.utils import resolve_topic
from sqlalchemy import BigInteger, Column, Table, Text, select
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from consumers import dead_letters
from domain.cardholder.events import CARDHOLDER_EVENTS
from domain.claims.events import ClaimEvent
from projections.catalogue import VIEW_NAMES
from projections.lapse_schedule import LapseSchedule, schedule_table
from service.bootstrap import BackOffice, build, view_store
from service.settings import Settings
from service.views import consumer_lag, feed_topic, models, topic_end_offsets
from tracking.follow import Batch, Commit, Follower, StorePositions
from tracking.partition_offsets import KafkaPositions, offsets_table
from tracking.runner import Pulse
from tracking.source import StoreFeed
from tracking.store import Tx, metadata, positions_table

log = logging.getLogger(__name__)

event_counts_table = Table(
    "sscard_event_counts",
    metadata,
    Column("event_type", Text, primary_key=True),
    Column("total", BigInteger, nullable=False),
)

refusals_table = Table(
    "sscard_refusals",
    metadata,
    Column("reason", Text, primary_key=True),
    Column("total", BigInteger, nullable=False),
)

EVENT_COUNTS = "event_counts"


def _increment(tx: Tx, table: Table, key: str, value: str, by: int) -> None:
    insert = pg_dialect.insert if tx.dialect == "postgres" else sqlite_dialect.insert
    statement = insert(table).values({key: value, "total": by})
    tx.execute(
        statement.on_conflict_do_update(
            index_elements=[key], set_={"total": table.c.total + statement.excluded["total"]}
        )
    )


class _CountEvents:
    def handle(self, batch: Batch[int, str], commit: Commit, pulse: Pulse) -> None:
        del pulse
        counts = Counter(item for item in batch.items if item)

        def record(tx: Tx) -> None:
            for event_type, count in sorted(counts.items()):
                _increment(tx, event_counts_table, "event_type", event_type, count)

        commit(record)


def _command_event(notification: Notification) -> str:
    """The event type a command recorded; "" for internal bookkeeping (reservations, request
    records, the benefit ledger), which no command is about."""
    cls = resolve_topic(notification.topic)
    if cls in CARDHOLDER_EVENTS or issubclass(cls, ClaimEvent):
        return str(cls.__name__)
    return ""


def count_events(backoffice: BackOffice) -> None:
    """Bring the event counts up to the store's head."""
    store = backoffice.views
    store.create((event_counts_table,))
    positions = StorePositions(store)
    positions.ensure(EVENT_COUNTS)
    feed = StoreFeed(backoffice.source, _command_event)
    follower: Follower[int, str] = Follower(EVENT_COUNTS, feed, positions, _CountEvents(), 5_000)
    pulse = Pulse.quiet()
    while follower.step(pulse) is not None:
        pass


def count_refusal(settings: Settings, reason: str) -> None:
    """Count one refused command (best effort: a refusal must never fail for its count)."""
    try:
        store = view_store(settings)
        try:
            store.create((refusals_table,))
            with store.transaction() as tx:
                _increment(tx, refusals_table, "reason", reason, 1)
        finally:
            store.close()
    except Exception as exc:
        log.debug("refusal not counted: %s", exc)


@dataclass(frozen=True)
class ConsumerFigures:
    view: str
    lag: int | None  # None: Kafka not reachable
    dead_letters: int
    partitions: int  # partitions it has applied messages of


@dataclass
class Snapshot:
    head: int
    followers: dict[str, int]  # store followers: name -> position
    consumers: list[ConsumerFigures]
    pending_lapses: int
    commands: dict[str, int]
    refusals: dict[str, int]
    notes: list[str] = field(default_factory=list)

    @property
    def relay_lag(self) -> int | None:
        position = self.followers.get("relay")
        return None if position is None else max(self.head - position, 0)

    def follower_lag(self, name: str) -> int:
        return max(self.head - self.followers[name], 0)


def snapshot(backoffice: BackOffice, kafka: bool = True) -> Snapshot:
    settings = backoffice.settings
    store = backoffice.views
    store.create(
        (event_counts_table, refusals_table, offsets_table, dead_letters.dead_letters_table)
    )
    store.create((schedule_table,))
    count_events(backoffice)
    head = backoffice.source.head()
    notes: list[str] = []
    with store.reading() as tx:
        followers = {
            r.name: int(r.position)
            for r in tx.execute(select(positions_table))
            if r.name != EVENT_COUNTS
        }
        commands = {r.event_type: int(r.total) for r in tx.execute(select(event_counts_table))}
        refusals = {r.reason: int(r.total) for r in tx.execute(select(refusals_table))}
        pending = LapseSchedule.pending(tx)
    depth = dead_letters.depth(store)
    # Per topic a view reads, its end offsets; a view's lag is summed over its topics.
    feeds = {name: model.feeds for name, model in models(settings).items()}
    ends: dict[str, dict[int, tuple[int, int]]] | None = None
    if kafka:
        try:
            ends = {
                feed: topic_end_offsets(settings, feed_topic(settings, feed))
                for feed in sorted({f for fs in feeds.values() for f in fs})
            }
        except Exception as exc:
            notes.append(f"Kafka not reachable ({type(exc).__name__}): consumer lag unknown")
    consumers = []
    for view in VIEW_NAMES:
        lag: int | None = 0 if ends is not None else None
        partitions = 0
        for feed in feeds[view]:
            offsets = KafkaPositions(store, feed_topic(settings, feed)).load(view)
            partitions += len(offsets)
            if ends is not None and lag is not None:
                lag += consumer_lag(offsets, ends[feed])
        consumers.append(ConsumerFigures(view, lag, depth.get(view, 0), partitions))
    return Snapshot(head, followers, consumers, pending, commands, refusals, notes)


# ---- Prometheus ------------------------------------------------------------------------------


class Collector:
    """Computes the snapshot when Prometheus scrapes (at most every ``ttl`` seconds)."""

    def __init__(self, settings: Settings, ttl: float = 5.0) -> None:
        self._settings = settings
        self._ttl = ttl
        self._backoffice: BackOffice | None = None
        self._cached: tuple[float, Snapshot] | None = None
        self._lock = threading.Lock()
        self.failures = 0

    def _snapshot(self) -> Snapshot | None:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self._ttl:
                return self._cached[1]
            try:
                if self._backoffice is None:
                    self._backoffice = build(self._settings)
                taken = snapshot(self._backoffice)
            except Exception as exc:
                self.failures += 1
                log.warning("metrics: cannot read the store now: %s", exc)
                if self._backoffice is not None:
                    self._backoffice.close()
                    self._backoffice = None
                return None
            self._cached = (time.monotonic(), taken)
            return taken

    def collect(self) -> Iterator[object]:
        from prometheus_client.core import (  # noqa: PLC0415 (sscard run only)
            CounterMetricFamily,
            GaugeMetricFamily,
        )

        taken = self._snapshot()
        up = GaugeMetricFamily("sscard_store_up", "1 if the store could be read for this scrape")
        up.add_metric([], 0 if taken is None else 1)
        yield up
        if taken is None:
            return
        yield GaugeMetricFamily("sscard_store_head", "position of the newest event", taken.head)
        if taken.relay_lag is not None:
            yield GaugeMetricFamily(
                "sscard_relay_lag", "events stored but not yet published", taken.relay_lag
            )
        followers = GaugeMetricFamily(
            "sscard_follower_lag", "events a store follower has yet to read", labels=["follower"]
        )
        for name in sorted(taken.followers):
            followers.add_metric([name], taken.follower_lag(name))
        yield followers
        lag = GaugeMetricFamily(
            "sscard_consumer_lag",
            "card-events messages a read model's consumer has yet to apply",
            labels=["view"],
        )
        depth = GaugeMetricFamily(
            "sscard_dead_letters", "messages parked for a read model", labels=["view"]
        )
        for consumer in taken.consumers:
            if consumer.lag is not None:
                lag.add_metric([consumer.view], consumer.lag)
            depth.add_metric([consumer.view], consumer.dead_letters)
        yield lag
        yield depth
        yield GaugeMetricFamily(
            "sscard_pending_lapses", "open pre-reports in the lapse schedule", taken.pending_lapses
        )
        commands = CounterMetricFamily(
            "sscard_commands", "commands recorded, by the event they recorded", labels=["event"]
        )
        for event_type, count in sorted(taken.commands.items()):
            commands.add_metric([event_type], count)
        yield commands
        refusals = CounterMetricFamily(
            "sscard_refusals", "commands refused, by reason code", labels=["reason"]
        )
        for reason, count in sorted(taken.refusals.items()):
            refusals.add_metric([reason], count)
        yield refusals

    def close(self) -> None:
        if self._backoffice is not None:
            self._backoffice.close()
            self._backoffice = None


def serve_metrics(settings: Settings) -> Collector | None:
    """Prometheus metrics on ``settings.metrics_port`` (none when 0). A port in use is logged
    and the back office runs on without metrics: they must not be the reason it stops."""
    if not settings.metrics_port:
        return None
    from prometheus_client import CollectorRegistry, start_http_server  # noqa: PLC0415

    registry = CollectorRegistry(auto_describe=False)
    collector = Collector(settings)
    registry.register(collector)  # type: ignore[arg-type]
    try:
        start_http_server(settings.metrics_port, registry=registry)
    except OSError as exc:
        log.error(
            "metrics: cannot listen on port %d (%s); running without", settings.metrics_port, exc
        )
        return None
    log.info("metrics on http://0.0.0.0:%d/metrics", settings.metrics_port)
    return collector
