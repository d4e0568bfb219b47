"""Reading topics back from the real broker, topics of a test's own, and private brokers (one
secured as production runs it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.consumer.fetcher import ConsumerRecord

from devinfra.local_kafka import LocalKafka
from tests.ports import free_ports


@contextmanager
def secured_broker(state: Path) -> Iterator[LocalKafka]:
    """A private broker with TLS, SASL/SCRAM and ACLs (``relay.access``), on free ports, ended
    with the process that started it. Failing to start it fails the test, never skips it."""
    port, controller_port = free_ports(2)
    broker = LocalKafka(
        port=port,
        controller_port=controller_port,
        state_dir=state / f"kafka-{port}-secure",
        die_with_parent=True,
        secure=True,
    )
    broker.start(timeout=120)
    try:
        yield broker
    finally:
        broker.stop()


def read_topic(
    bootstrap: str, topic: str, timeout: float = 180.0, **client: Any
) -> list[ConsumerRecord]:
    """Every record currently in ``topic``, in partition order.

    The partitions are assigned, not shared out by a consumer group: a group's member must keep
    up its heartbeats, and on a loaded 2-core machine a starved one was evicted and rejoined
    until the wait for an assignment ran out. ``timeout`` bounds a stuck read, far above what
    a loaded machine needs. ``client``: security arguments (a secured broker)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000, **client
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


@contextmanager
def private_broker(state_dir: Path) -> Iterator[LocalKafka]:
    """A broker of the caller's own (free ports, its own state), so stopping it disturbs no other
    test; it ends with the test process even if that is killed."""
    port, controller_port = free_ports(2)
    broker = LocalKafka(
        port=port, controller_port=controller_port, state_dir=state_dir, die_with_parent=True
    )
    broker.start(timeout=120)
    try:
        yield broker
    finally:
        broker.stop()


def create_topic(bootstrap: str, topic: str, partitions: int = 3, compacted: bool = True) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        configs = {"cleanup.policy": "compact"} if compacted else {}
        admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs)])
    finally:
        admin.close()
