"""What a chaos run reads back from a topic set it left behind in a fresh start: the relay's
messages, not the nemesis's poison (bytes with no envelope, sent before the switch)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from chaos.fresh_topics import read_earlier_topics
from chaos.poison import KEY_PREFIX, POISON
from relay.topics import Topics
from service.kafka_wiring import ensure_topics
from tests.conftest import make_settings

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def test_a_poison_left_on_an_earlier_topic_set_is_not_read_as_an_event(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"early{uuid.uuid4().hex[:8]}"
    topics = Topics(prefix)
    ensure_topics(
        make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=prefix)
    )
    envelope = {"event_id": str(uuid.uuid4()), "stream_id": "s-1", "stream_version": 3}
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        producer.send(topics.card_events, key=b"s-1", value=json.dumps(envelope).encode())
        producer.send(topics.card_events, key=f"{KEY_PREFIX}1".encode(), value=POISON)
        producer.flush(timeout=30)
    finally:
        producer.close()
    records = read_earlier_topics(kafka_bootstrap, [prefix], timeout=10.0)
    assert [(r.topic, r.key, r.event_id, r.version) for r in records] == [
        (topics.card_events, "s-1", envelope["event_id"], 3)
    ]
