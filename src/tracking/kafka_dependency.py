"""Kafka as a dependency the runner waits out: the relay's producer and the views' consumers
wait out the same broker (kept apart from ``tracking.runner``, which read models import and
which therefore stays free of Kafka)."""

from __future__ import annotations

from kafka.errors import KafkaError

from tracking.runner import Dependency


def _is_kafka_error(exc: BaseException) -> bool:
    return isinstance(exc, KafkaError | OSError)


KAFKA = Dependency("Kafka", _is_kafka_error)
