"""Reading topics back from the real broker, the way a consumer group would."""

from __future__ import annotations

import time
import uuid

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord


def read_topic(bootstrap: str, topic: str, timeout: float = 60.0) -> list[ConsumerRecord]:
    """Every record currently in ``topic``, read by a fresh consumer group, in partition order."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while not consumer.assignment():
            consumer.poll(timeout_ms=200)
            assert time.monotonic() < deadline, f"no partitions of {topic} were assigned"
        partitions = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        ends = consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek_to_beginning(tp)
        records: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in partitions}
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"timed out reading {topic}"
            for tp, batch in consumer.poll(timeout_ms=500, max_records=5000).items():
                records[tp].extend(batch)
        consumer.commit()
        return [record for tp in partitions for record in records[tp]]
    finally:
        consumer.close()
