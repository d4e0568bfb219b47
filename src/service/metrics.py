"""The back office's numbers, for ``sscard status`` and Prometheus (``sscard run``).

- store head, the relay's lag, each store follower's lag (the lapse schedule);
- each read model's consumer lag: messages on ``sscard.card-events`` after its offsets;
- dead-letter depth per read model, pending lapses;
- commands recorded, by event type; system events (lapses) apart; commands refused, by reason.

Commands run in other processes (every ``sscard`` command is a process of its own), so nothing
is counted in memory. Recorded commands are derived from the events themselves
(``service.event_counts``), exact whoever wrote them. A refusal leaves no event, so the CLI
counts it, best effort, in ``sscard_refusals`` (the view store; the event store is untouched by a
refusal): refusals of commands only, a query that finds nothing is no refusal.

Taking a snapshot only reads: no table is created and no follower moved, so ``sscard status``
answers on a full disk or a read-only store. A table not made yet reads as empty.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import BigInteger, Column, Table, Text, func, select

from consumers import dead_letters
from projections.catalogue import VIEW_NAMES
from projections.lapse_schedule import schedule_table
from service.bootstrap import BackOffice, open_back_office, view_store
from service.event_counts import (
    EVENT_COUNTS,
    increment,
    is_system_event,
    read_counts,
)
from service.replay_wiring import models
from service.settings import Settings
from service.views import consumer_lag, feed_topic, topic_end_offsets
from tracking.board import is_healthy, read_board
from tracking.partition_offsets import KafkaPositions, offsets_table
from tracking.store import Tx, metadata, positions_table

log = logging.getLogger(__name__)

refusals_table = Table(
    "sscard_refusals",
    metadata,
    Column("reason", Text, primary_key=True),
    Column("total", BigInteger, nullable=False),
)


def count_refusal(settings: Settings, reason: str, by: int = 1) -> None:
    """Count refused commands (best effort: a refusal must never fail for its count). A count
    that cannot be written (a full disk) is logged with its figure, so it is not lost unseen."""
    if by <= 0:
        return
    try:
        store = view_store(settings)
        try:
            store.create((refusals_table,))
            with store.transaction() as tx:
                increment(tx, refusals_table, "reason", reason, by)
        finally:
            store.close()
    except Exception as exc:
        log.warning("%d refusal(s) (%s) not counted: %s", by, reason, exc)


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
    # Events the back office recorded by itself (lapses), by type.
    system_events: dict[str, int] = field(default_factory=dict)

    @property
    def relay_lag(self) -> int | None:
        position = self.followers.get("relay")
        return None if position is None else max(self.head - position, 0)

    def follower_lag(self, name: str) -> int:
        return max(self.head - self.followers[name], 0)


def _rows(tx: Tx, table: Table, statement: Any) -> list[Any]:
    return list(tx.execute(statement)) if tx.has_table(table.name) else []


def snapshot(backoffice: BackOffice, kafka: bool = True) -> Snapshot:
    """The figures, read only (see the module's note)."""
    settings = backoffice.settings
    store = backoffice.views
    head = backoffice.source.head()
    notes: list[str] = []
    feeds = {name: model.feeds for name, model in models(settings).items()}
    d = dead_letters.dead_letters_table.c
    with store.reading() as tx:
        followers = {
            r.name: int(r.position)
            for r in tx.execute(select(positions_table))
            if r.name != EVENT_COUNTS
        }
        refusals = {
            r.reason: int(r.total) for r in _rows(tx, refusals_table, select(refusals_table))
        }
        pending = sum(
            int(r[0])
            for r in _rows(tx, schedule_table, select(func.count()).select_from(schedule_table))
        )
        depth = {
            str(r.consumer): int(r.n)
            for r in _rows(
                tx,
                dead_letters.dead_letters_table,
                select(d.consumer, func.count().label("n")).group_by(d.consumer),
            )
        }
        has_offsets = tx.has_table(offsets_table.name)
        offsets = {
            (view, feed): (
                KafkaPositions(store, feed_topic(settings, feed)).read(tx, view)
                if has_offsets
                else {}
            )
            for view in VIEW_NAMES
            for feed in feeds[view]
        }
    counts = read_counts(backoffice)
    commands = {k: v for k, v in counts.items() if not is_system_event(k)}
    system_events = {k: v for k, v in counts.items() if is_system_event(k)}
    # Per topic a view reads, its end offsets; a view's lag is summed over its topics.
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
            applied = offsets[(view, feed)]
            partitions += len(applied)
            if ends is not None and lag is not None:
                lag += consumer_lag(applied, ends[feed])
        consumers.append(ConsumerFigures(view, lag, depth.get(view, 0), partitions))
    return Snapshot(head, followers, consumers, pending, commands, refusals, notes, system_events)


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
                    self._backoffice = open_back_office(self._settings)
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
        system = CounterMetricFamily(
            "sscard_system_events",
            "events the back office recorded by itself (no command), by type",
            labels=["event"],
        )
        for event_type, count in sorted(taken.system_events.items()):
            system.add_metric([event_type], count)
        yield system
        refusals = CounterMetricFamily(
            "sscard_refusals", "commands refused, by reason code", labels=["reason"]
        )
        for reason, count in sorted(taken.refusals.items()):
            refusals.add_metric([reason], count)
        yield refusals

    def health(self) -> Health | None:
        """The back office's health now (not cached); None when the store cannot be read."""
        with self._lock:
            try:
                if self._backoffice is None:
                    self._backoffice = open_back_office(self._settings)
                return health(self._backoffice)
            except Exception as exc:
                log.warning("health: cannot read the store now: %s", exc)
                if self._backoffice is not None:
                    self._backoffice.close()
                    self._backoffice = None
                return None

    def close(self) -> None:
        if self._backoffice is not None:
            self._backoffice.close()
            self._backoffice = None


@dataclass(frozen=True)
class Health:
    healthy: bool
    reasons: list[str]


def health(backoffice: BackOffice) -> Health:
    """Healthy when the store answers and no live worker is stuck (tracking.board.is_healthy):
    what ``/healthz`` answers, read only."""
    now = datetime.now(UTC)
    backoffice.source.head()
    reasons = [
        f"{w.worker} {w.state}" + (f" ({w.detail})" if w.detail else "")
        for w in read_board(backoffice.views, now)
        if not is_healthy(w, now)
    ]
    return Health(not reasons, reasons)


class _Endpoints(BaseHTTPRequestHandler):
    """``/metrics`` for Prometheus, ``/healthz`` for a liveness probe; nothing else."""

    registry: Any = None
    collector: Collector | None = None

    def do_GET(self) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: PLC0415

        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._answer(200, CONTENT_TYPE_LATEST, generate_latest(self.registry))
        elif path == "/healthz":
            assert self.collector is not None
            found = self.collector.health()
            if found is None:
                self._answer(503, "text/plain", b"unhealthy: the store cannot be read\n")
            elif found.healthy:
                self._answer(200, "text/plain", b"ok\n")
            else:
                text = "unhealthy: " + "; ".join(found.reasons) + "\n"
                self._answer(503, "text/plain", text.encode())
        else:
            self._answer(404, "text/plain", b"not found: try /metrics or /healthz\n")

    def _answer(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # a scrape every few seconds is not news


def serve_metrics(settings: Settings) -> Collector | None:
    """Prometheus metrics on ``settings.metrics_port`` (none when 0) at ``/metrics``, and the
    health at ``/healthz``. A port in use is logged and the back office runs on without them:
    they must not be the reason it stops."""
    if not settings.metrics_port:
        return None
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    registry = CollectorRegistry(auto_describe=False)
    collector = Collector(settings)
    registry.register(collector)  # type: ignore[arg-type]
    handler = type("Endpoints", (_Endpoints,), {"registry": registry, "collector": collector})
    try:
        server = ThreadingHTTPServer(("0.0.0.0", settings.metrics_port), handler)
    except OSError as exc:
        log.error(
            "metrics: cannot listen on port %d (%s); running without", settings.metrics_port, exc
        )
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://0.0.0.0:%d/metrics, health on /healthz", settings.metrics_port)
    return collector
