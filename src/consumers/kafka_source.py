"""A Kafka topic as a follower's source: batches of records after per-partition positions.

The consumer is a member of a consumer group (partitions shared between instances), with no
offsets committed to Kafka at all: where each partition got to is kept in the view store
(``tracking.partition_offsets``) and moved in the view's transaction. On every (re)assignment
the listener reads those positions and seeks each partition to the stored offset + 1 (the
beginning when none is stored), so a restarted or newly assigned consumer goes on exactly after
the last message its view applied.

A consumer only joins once its topic exists: ``sscard run`` creates the topics first, and the
local broker creates none by itself (a topic made by a consumer's metadata request would have
the broker's defaults, not ours). The faults that give no error of their own (the broker gone,
no partition held, none delivered) are watched for after every poll by
``consumers.consumer_watch``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError

from consumers.consumer_watch import ConsumerWatch
from tracking.follow import Batch
from tracking.partition_offsets import KafkaPositions, PartitionOffsets

log = logging.getLogger(__name__)


class Consumer(Protocol):
    """The part of kafka-python's KafkaConsumer the source uses."""

    def subscribe(self, topics: list[str], listener: Any) -> None: ...

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]: ...

    def seek(self, partition: Any, offset: int) -> None: ...

    def seek_to_beginning(self, *partitions: Any) -> None: ...

    def pause(self, *partitions: Any) -> None: ...

    def resume(self, *partitions: Any) -> None: ...

    def assignment(self) -> set[Any]: ...

    def end_offsets(
        self, partitions: list[Any], timeout_ms: int | None = None
    ) -> dict[Any, int]: ...

    def beginning_offsets(
        self, partitions: list[Any], timeout_ms: int | None = None
    ) -> dict[Any, int]: ...

    def partitions_for_topic(self, topic: str) -> set[int] | None: ...

    def close(self, autocommit: bool = True, timeout_ms: int | None = None) -> None: ...


class TopicMissing(KafkaError):  # type: ignore[misc]  # kafka-python is untyped
    """The topic does not exist (yet): there is nothing to join."""


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    def __init__(self, source: KafkaSource) -> None:
        self._source = source

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._source.revoked({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._source.assigned({tp.partition for tp in assigned})


class KafkaSource:
    """``Source[PartitionOffsets, ConsumerRecord]`` over one topic, in a consumer group."""

    # A broker that answers takes milliseconds; one that is gone must not hold the worker.
    OFFSETS_TIMEOUT_MS = 2_000

    def __init__(
        self,
        name: str,
        topic: str,
        positions: KafkaPositions,
        new_consumer: Callable[[], Consumer],
        poll_ms: int = 200,
        group_members: Callable[[], int] | None = None,
    ) -> None:
        self.name = name
        self.topic = topic
        self._positions = positions
        self._new_consumer = new_consumer
        self._poll_ms = poll_ms
        self._consumer: Consumer | None = None
        # Its tunables keep their defaults; a test that needs them sooner sets them on the watch.
        self.watch = ConsumerWatch(name, topic, group_members=group_members)
        # For each partition assigned to us: the last offset read (or stored) before the next
        # message the consumer will hand out; None: from the beginning.
        self._at: dict[int, int | None] = {}
        self._fresh: set[int] = set()  # loaded on assignment, newer than the follower's map
        self._pending: set[int] = set()  # assigned while the view store could not be read

    # ---- the group -------------------------------------------------------------------------

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    def consumer(self) -> Consumer:
        if self._consumer is None:
            consumer = self._new_consumer()
            try:
                # Learn the topic's partitions before joining the group: a member that joined
                # first and learned them after was given none and, with kafka-python 3.0,
                # could keep none (seen for 90 s under `sscard run` on a loaded machine).
                partitions = consumer.partitions_for_topic(self.topic)
                if not partitions:
                    raise TopicMissing(f"topic {self.topic} does not exist yet")
                consumer.subscribe([self.topic], listener=_Listener(self))
            except BaseException:
                self._close(consumer)
                raise
            self.watch.joined(len(partitions))
            self._consumer = consumer
        return self._consumer

    def revoked(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._at.pop(partition, None)
            self._fresh.discard(partition)
            self._pending.discard(partition)

    def assigned(self, partitions: set[int]) -> None:
        """Seek every assigned partition to where the view got to. Runs inside ``poll``; a view
        store that cannot be read now leaves the partitions paused until ``read`` can."""
        log.info("%s: assigned partitions %s of %s", self.name, sorted(partitions), self.topic)
        try:
            stored = self._positions.load(self.name, partitions)
        except Exception as exc:
            log.warning("%s: cannot read positions now (%s); pausing", self.name, exc)
            self._pending |= partitions
            self.consumer().pause(*(self._tp(p) for p in partitions))
            return
        for partition in partitions:
            self._seek(partition, stored.get(partition))
            self._fresh.add(partition)

    def _seek(self, partition: int, last: int | None) -> None:
        tp = self._tp(partition)
        if last is None:
            self.consumer().seek_to_beginning(tp)
        else:
            self.consumer().seek(tp, last + 1)
        self._at[partition] = last

    # ---- Source ----------------------------------------------------------------------------

    def read(self, after: PartitionOffsets, limit: int) -> Batch[PartitionOffsets, Any]:
        consumer = self.consumer()
        if self._pending:
            stored = self._positions.load(self.name, self._pending)  # a store error: an outage
            for partition in self._pending:
                self._seek(partition, stored.get(partition))
                self._fresh.add(partition)
            consumer.resume(*(self._tp(p) for p in self._pending))
            self._pending.clear()
        # The follower's map is the truth for partitions we held before: it differs from ours
        # only after it reloaded its positions (a conflict, an outage), and then we seek back.
        for partition, last in list(self._at.items()):
            if partition not in self._fresh and after.get(partition) != last:
                self._seek(partition, after.get(partition))
        polled = consumer.poll(timeout_ms=self._poll_ms, max_records=limit)
        held = {tp.partition for tp in consumer.assignment()}
        if self.watch.replace(
            consumer, bool(polled), held - self._pending, lambda ps: self._behind(consumer, ps)
        ):
            self._drop_consumer()  # the next read joins again, with a fresh consumer
        start = dict(after)
        for partition in self._fresh:
            last = self._at.get(partition)
            if last is None:
                start.pop(partition, None)
            else:
                start[partition] = last
        self._fresh.clear()
        end = dict(start)
        items: list[Any] = []
        for tp, records in sorted(polled.items(), key=lambda kv: kv[0].partition):
            if tp.partition not in self._at or not records:
                continue  # revoked meanwhile
            items.extend(records)
            end[tp.partition] = records[-1].offset
            self._at[tp.partition] = records[-1].offset
        if not items and start != after:
            # Positions newer than the follower's, from an assignment: have it record them
            # (a compare-and-set against its old map, which makes it reload them).
            return Batch(after, start, ())
        return Batch(start, end, tuple(items))

    def condition(self) -> tuple[str, str] | None:
        """What the watch sees: holding no partition, or a spare (tracking.runner)."""
        return self.watch.condition()

    def _behind(self, consumer: Consumer, partitions: list[int]) -> int:
        """Messages after what was read, on ``partitions`` (a position from before the last
        assignment counts as read: what the view applied)."""
        tps = [self._tp(p) for p in partitions]
        ends = consumer.end_offsets(tps, timeout_ms=self.OFFSETS_TIMEOUT_MS)
        beginnings = consumer.beginning_offsets(tps, timeout_ms=self.OFFSETS_TIMEOUT_MS)
        behind = 0
        for tp in tps:
            last = self._at.get(tp.partition)
            next_offset = beginnings[tp] if last is None else last + 1
            behind += max(ends[tp] - next_offset, 0)
        return behind

    def wait(self, after: PartitionOffsets, timeout: float) -> bool:
        del after, timeout
        return True  # ``read`` itself waits up to ``poll_ms`` for records

    def lag(self, position: PartitionOffsets) -> int:
        consumer = self.consumer()
        partitions = [self._tp(p) for p in sorted(consumer.partitions_for_topic(self.topic) or ())]
        if not partitions:
            return 0
        ends = consumer.end_offsets(partitions)
        beginnings = consumer.beginning_offsets(partitions)
        behind = 0
        for tp in partitions:
            last = position.get(tp.partition)
            next_offset = beginnings[tp] if last is None else last + 1
            behind += max(ends[tp] - next_offset, 0)
        return behind

    def reset(self) -> None:
        """After an outage: leave the group and join again with a fresh consumer."""
        self.close()

    def close(self) -> None:
        self._drop_consumer()
        self.watch.reset()

    def _drop_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        self._at.clear()
        self._fresh.clear()
        self._pending.clear()
        if consumer is not None:
            self._close(consumer)

    def _close(self, consumer: Consumer) -> None:
        try:
            consumer.close(autocommit=False, timeout_ms=1000)
        except Exception:  # it is being thrown away
            log.debug("%s: closing the consumer raised", self.name, exc_info=True)
