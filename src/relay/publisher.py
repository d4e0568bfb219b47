"""The relay: every stored event, in store order, onto Kafka; crash-safe and restartable.

It follows the store's log from its published position, sends each batch with an idempotent
producer (acks=all), waits until Kafka has acknowledged every message, and only then moves the
position, in the store's own database. A crash anywhere loses nothing: the unacknowledged batch
is sent again on restart, so at most one batch is duplicated per crash, and consumers drop
duplicates by (stream id, stream version). Keys (holder id, card number) keep per-key order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kafka.errors import KafkaError

from relay.topics import Topics
from relay.wire import PUBLISHED_EVENTS, Headers, messages_for
from tracking.source import EventSource
from tracking.store import STORE_ERRORS, PositionConflict, ViewStore

log = logging.getLogger(__name__)

RELAY = "relay"


class Producer(Protocol):
    """The part of kafka-python's KafkaProducer the relay uses."""

    def send(
        self, topic: str, value: bytes, key: bytes, headers: Headers
    ) -> Any: ...  # a FutureRecordMetadata

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True)
class RelayStatus:
    head: int
    published: int

    @property
    def lag(self) -> int:
        return max(self.head - self.published, 0)


class Relay:
    def __init__(
        self,
        source: EventSource,
        positions: ViewStore,
        new_producer: Callable[[], Producer],
        topics: Topics,
        batch_size: int = 500,
        flush_timeout: float = 30.0,
    ) -> None:
        self._source = source
        self._positions = positions
        self._new_producer = new_producer
        self._producer: Producer | None = None
        self._topics = topics
        self._batch_size = batch_size
        self._flush_timeout = flush_timeout
        positions.ensure_position(RELAY)

    def status(self) -> RelayStatus:
        return RelayStatus(head=self._source.head(), published=self._positions.position(RELAY))

    def publish_batch(self) -> int:
        """Send the next batch after the published position; returns how far the position moved
        (store positions, published or not)."""
        position = self._positions.position(RELAY)
        head = self._source.head()
        if head <= position:
            return 0
        # Only events that are published are read (reservations are skipped in the query).
        batch = self._source.read(position, self._batch_size, PUBLISHED_EVENTS)
        # A short batch means nothing else up to ``head`` is published: move past all of it.
        # (Commit order equals position order on both stores, so nothing <= head comes later.)
        last = batch[-1].position if batch else position
        new_position = max(last, head) if len(batch) < self._batch_size else last
        if batch:
            producer = self._producer_now()
            futures = [
                producer.send(m.topic, value=m.value, key=m.key, headers=m.headers)
                for positioned in batch
                for m in messages_for(positioned, self._topics)
            ]
            producer.flush(timeout=self._flush_timeout)
            for future in futures:
                future.get(timeout=0)  # raises the delivery error of any message Kafka refused
        try:
            with self._positions.transaction() as tx:
                tx.move_position(RELAY, position, new_position)
        except PositionConflict:
            log.warning("another relay moved the published position; following it")
        return new_position - position

    def publish_pending(self) -> int:
        """Publish until caught up with the store's head as seen at the start."""
        target = self._source.head()
        published = 0
        while self._positions.position(RELAY) < target:
            sent = self.publish_batch()
            if sent == 0:
                break
            published += sent
        return published

    def run(self, stop: threading.Event, idle_wait: float = 0.5, max_backoff: float = 30.0) -> None:
        """Follow the store until ``stop`` is set. Kafka outages are waited out, logged once."""
        outage_since: float | None = None
        backoff = 0.25
        while not stop.is_set():
            try:
                sent = self.publish_batch()
            except (KafkaError, OSError, *STORE_ERRORS) as exc:
                what = "the store" if isinstance(exc, STORE_ERRORS) else "Kafka"
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.warning(
                        "%s unavailable (%s); publishing resumes when it returns",
                        what,
                        type(exc).__name__,
                    )
                else:
                    log.debug("%s still unavailable: %s", what, exc)
                self._drop_producer()
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff)
                continue
            if outage_since is not None:
                status = self.status()
                log.info(
                    "publishing again after %.1f s; %d store positions still to publish",
                    time.monotonic() - outage_since,
                    status.lag,
                )
                outage_since, backoff = None, 0.25
            if sent == 0:
                self._source.wait(self._positions.position(RELAY), idle_wait)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self._flush_timeout)
            self._producer = None

    def _producer_now(self) -> Producer:
        if self._producer is None:
            self._producer = self._new_producer()
        return self._producer

    def _drop_producer(self) -> None:
        """After a failure start over with a fresh producer (and a fresh idempotence epoch)."""
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception:  # it is being thrown away; nothing to save
                log.debug("closing the failed producer raised", exc_info=True)
            self._producer = None
