"""Reading topics back from the real broker."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord


def read_topic(bootstrap: str, topic: str, timeout: float = 180.0) -> list[ConsumerRecord]:
    """Every record currently in ``topic``, in partition order.

    The partitions are assigned, not shared out by a consumer group: a group's member must keep
    up its heartbeats, and on a loaded 2-core machine a starved one was evicted and rejoined
    until the wait for an assignment ran out. ``timeout`` bounds a stuck read, far above what
    a loaded machine needs."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000
    )
    try:
        deadline = time.monotonic() + timeout
        numbers = consumer.partitions_for_topic(topic)
        while not numbers:
            assert time.monotonic() < deadline, f"the broker does not know {topic}"
            time.sleep(0.2)
            numbers = consumer.partitions_for_topic(topic)
        partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in partitions}
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"timed out reading {topic}"
            for tp, batch in consumer.poll(timeout_ms=500, max_records=5000).items():
                records[tp].extend(batch)
        return [record for tp in partitions for record in records[tp]]
    finally:
        consumer.close()
