"""A producer that acknowledges nothing is thrown away after the stall bound, so the relay
sends the batch again with a new one instead of waiting on it for ever (after a broker is
killed mid-batch, kafka-python's producer was seen to complete nothing for over 120 s)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from contract.public_form import StoredForm
from relay.publisher import PublishBatch
from relay.topics import Topics
from tests.unit.test_wire_messages import every_event_type, stored_form
from tracking.follow import Batch
from tracking.runner import Pulse


class WedgedProducer:
    """Takes every message, acknowledges none: flush always times out."""

    def __init__(self) -> None:
        self.sent = 0
        self.closed = False

    def send(self, topic: str, value: bytes, key: bytes, headers: Any) -> None:
        del topic, value, key, headers
        self.sent += 1

    def flush(self, timeout: float | None = None) -> None:
        time.sleep(timeout or 0)
        raise KafkaTimeoutError("Timeout waiting for future")

    def close(self, timeout: float | None = None) -> None:
        del timeout
        self.closed = True


def test_a_wedged_producer_is_dropped_and_the_batch_left_unrecorded():
    events = every_event_type()[:3]
    forms: list[StoredForm] = [stored_form(e, i + 1) for i, e in enumerate(events)]
    producers: list[WedgedProducer] = []

    def new_producer() -> WedgedProducer:
        producers.append(WedgedProducer())
        return producers[-1]

    publisher = PublishBatch(new_producer, Topics("t"), lambda n: n, stall_seconds=0.5)
    committed: list[bool] = []
    batch = Batch(0, 3, tuple(forms))
    for attempt in (1, 2):
        started = time.monotonic()
        with pytest.raises(KafkaTimeoutError, match="new producer"):
            publisher.handle(batch, lambda: committed.append(True), Pulse.quiet())
        assert time.monotonic() - started < 5
        assert len(producers) == attempt  # each attempt on a producer of its own
        assert producers[-1].closed
        assert producers[-1].sent >= 3
    assert not committed
