"""The relay: every stored event, in store order, onto Kafka; crash-safe and restartable.

A follower of the store (tracking.follow) whose handler sends each batch with an idempotent
producer (acks=all), waits until Kafka has acknowledged every message, and only then records the
position, in the view store's database. A crash anywhere loses nothing: the unacknowledged batch
is sent again on restart, so at most one batch is duplicated per crash, and consumers drop
duplicates by (stream id, stream version). Keys (holder id, card number) keep per-key order.

Waiting, back-off, outages and the single-active lock belong to the runner (tracking.runner);
the relay only knows how to publish one batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import Notification
from kafka.errors import KafkaTimeoutError

from contract.public_form import StoredForm
from relay.topics import TopicConfigConflict, Topics
from relay.wire import PUBLISHED_EVENTS, Headers, messages_for
from tracking.board import Board
from tracking.follow import Batch, Commit, Follower, StorePositions
from tracking.kafka_dependency import KAFKA
from tracking.runner import DATABASE, Abandoned, Dependency, Pulse, Runner, Unrecoverable
from tracking.source import StoreEventSource, StoreFeed
from tracking.store import ViewStore

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


class PublishBatch:
    """The relay's handler: send a batch, wait for every acknowledgement, then record it."""

    # How long Kafka may take to acknowledge before the runner reports it unavailable. The
    # producer keeps trying until its delivery timeout; this only makes the outage visible now.
    ACK_NOTICE_SECONDS = 1.0
    ACK_POLL_SECONDS = 0.1
    # The producer expires what Kafka has not acknowledged after its delivery timeout (30 s in
    # the relay's settings), which ends the wait with an error and a fresh producer. After a
    # broker is killed mid-batch, kafka-python's producer can be wedged for good (no batch ever
    # completes or expires, measured: none in 120 s); past this bound the relay gives up on it.
    # A last resort: a broker restart no longer reaches it, since the producer retries a lost
    # broker at least once a second (``reconnect_backoff_max_ms`` in service.kafka_wiring,
    # where this bound is derived from the producer's timeouts).
    STALL_SECONDS = 45.0

    def __init__(
        self,
        new_producer: Callable[[], Producer],
        topics: Topics,
        decode: Callable[[Notification], StoredForm],
        prefetch: Callable[[Sequence[Notification]], None] | None = None,
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        self._stall_seconds = stall_seconds
        self._new_producer = new_producer
        self._producer: Producer | None = None
        self._topics = topics
        self._decode = decode
        self._prefetch = prefetch

    def handle(self, batch: Batch[int, Notification], commit: Commit, pulse: Pulse) -> None:
        if batch.items:
            if self._prefetch is not None:
                # The batch's data keys in one query, not one per holder.
                self._prefetch(batch.items)
            forms = [self._decode(n) for n in batch.items]
            producer = self._producer_now()
            sent_at = time.monotonic()
            futures = [
                producer.send(m.topic, value=m.value, key=m.key, headers=m.headers)
                for stored in forms
                for m in messages_for(stored, self._topics)
            ]
            self._await_acks(producer, futures, sent_at, pulse)
        commit()

    def _await_acks(
        self, producer: Producer, futures: list[Any], sent_at: float, pulse: Pulse
    ) -> None:
        """Until Kafka has acknowledged every message. Short waits, so that an outage is
        reported when it starts and a stop is honoured within moments: the batch is then
        abandoned unrecorded (sent again later), which is safe. A producer that acknowledges
        nothing for ``stall_seconds`` is thrown away: the batch is sent again by a new one."""
        while True:
            try:
                producer.flush(timeout=self.ACK_POLL_SECONDS)
                break
            except KafkaTimeoutError:
                if pulse.stopping():
                    self.drop()
                    raise Abandoned from None
                waited = time.monotonic() - sent_at
                if waited >= self._stall_seconds:
                    self.drop()
                    raise KafkaTimeoutError(
                        f"no acknowledgement for {waited:.0f} s; sending again with a new producer"
                    ) from None
                if waited >= self.ACK_NOTICE_SECONDS:
                    pulse.waiting(KAFKA, sent_at, f"no acknowledgement for {waited:.1f} s")
        for future in futures:
            future.get(timeout=0)  # raises the delivery error of any message Kafka refused

    def _producer_now(self) -> Producer:
        if self._producer is None:
            self._producer = self._new_producer()
        return self._producer

    def drop(self) -> None:
        """After a failure start over with a fresh producer (and a fresh idempotence epoch)."""
        if self._producer is not None:
            try:
                _discard(self._producer)
            except Exception:  # it is being thrown away; nothing to save
                log.debug("closing the failed producer raised", exc_info=True)
            self._producer = None

    def close(self, timeout: float = 0.5) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=timeout)
            except KafkaTimeoutError:  # records Kafka never acknowledged: sent again next start
                _discard(self._producer)
            self._producer = None


def _discard(producer: Producer) -> None:
    """Close a producer that still holds records Kafka never acknowledged. kafka-python's
    ``close`` flushes first and raises when that times out, leaving its sender thread running
    and the producer open; its ``__del__`` then closes it again and prints a traceback on stderr
    (``sscard chaos --seed 1 --minutes 1``: SIGTERM while the producer was wedged after a broker
    restart). So its sender is closed by force (which fails the pending records) and the
    producer closed again, with nothing left to flush."""
    try:
        producer.close(timeout=0)
    except KafkaTimeoutError:
        sender = getattr(producer, "_sender", None)
        if sender is None:
            raise
        sender.force_close()
        sender.join(_FORCE_CLOSE_SECONDS)
        producer.close(timeout=0)


# How long a sender closed by force may take to fail its pending records and end.
_FORCE_CLOSE_SECONDS = 2.0


class Relay:
    """The relay of one store: its follower, and a runner to drive it."""

    def __init__(
        self,
        source: StoreEventSource,
        positions: ViewStore,
        new_producer: Callable[[], Producer],
        topics: Topics,
        batch_size: int = 500,
        ensure_topics: Callable[[], object] | None = None,
        board: Board | None = None,
        prefetch: Callable[[Sequence[Notification]], None] | None = None,
        stall_seconds: float = PublishBatch.STALL_SECONDS,
    ) -> None:
        self._source = source
        self._positions = positions
        self._publisher = PublishBatch(
            new_producer, topics, source.stored_form, prefetch, stall_seconds
        )
        feed: StoreFeed[Notification] = StoreFeed(source, lambda n: n, PUBLISHED_EVENTS)
        self.follower: Follower[int, Notification] = Follower(
            RELAY, feed, StorePositions(positions), self._publisher, batch_size
        )
        self._ensure_topics = ensure_topics
        self._board = board
        positions.ensure_position(RELAY)

    def status(self) -> RelayStatus:
        return RelayStatus(head=self._source.head(), published=self._positions.position(RELAY))

    def publish_pending(self) -> int:
        """Publish until caught up with the store's head as seen at the start; returns how far
        the position moved. No retries: errors are raised (``run`` is the resilient way)."""
        target = self._source.head()
        start = self._positions.position(RELAY)
        pulse = Pulse.quiet()
        while self.follower.position() < target:
            if self.follower.step(pulse) is None:
                break
        return self.follower.position() - start

    def runner(self, idle_wait: float = 0.5, max_backoff: float = 5.0) -> Runner:
        return Runner(
            RELAY,
            follower=self.follower,
            board=self._board,
            lock=self._positions.exclusive(RELAY),
            dependencies=(DATABASE, KAFKA),
            prepare=self._prepare,
            reset=self._reset,
            idle_wait=idle_wait,
            max_backoff=max_backoff,
        )

    def run(self, stop: threading.Event, idle_wait: float = 0.5, max_backoff: float = 5.0) -> None:
        """Follow the store until ``stop``, as the one active relay of the store (or standing
        by); outages of the database or Kafka are waited out and logged once."""
        self.runner(idle_wait, max_backoff).run(stop)

    def _prepare(self) -> None:
        if self._ensure_topics is None:
            return
        try:
            self._ensure_topics()
        except TopicConfigConflict as exc:
            raise Unrecoverable(str(exc)) from exc

    def _reset(self, dependency: Dependency) -> None:
        if dependency is KAFKA:
            self._publisher.drop()

    def close(self) -> None:
        self._publisher.close()
