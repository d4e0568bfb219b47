"""Feeding read models from the real broker in the test's own process, and checking them."""

from __future__ import annotations

import time

from replay.views import VerifyReport
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics, relay_for
from service.settings import Settings
from service.views import (
    consumer_lag,
    feed_topic,
    model_named,
    topic_end_offsets,
    verify,
    view_consumer,
)
from tracking.runner import Pulse


def publish_all(settings: Settings) -> None:
    """Everything stored, onto its topics (created first, as ``sscard run`` does: the broker
    creates no topic by itself)."""
    ensure_topics(settings)
    with open_back_office(settings) as backoffice:
        relay = relay_for(backoffice)
        try:
            relay.publish_pending()
        finally:
            relay.close()


def consume_until_caught_up(settings: Settings, name: str, timeout: float = 120.0) -> None:
    """Run one consumer of ``name`` per feed (a group member) until it has read each of its
    topics to the end."""
    deadline = time.monotonic() + timeout
    with open_back_office(settings) as backoffice:
        for feed in model_named(settings, name).feeds:
            consumer = view_consumer(settings, backoffice.views, name, feed)
            consumer.prepare()
            ends = topic_end_offsets(settings, feed_topic(settings, feed))
            pulse = Pulse.quiet()
            try:
                while consumer_lag(consumer.positions.load(name), ends) > 0:
                    assert time.monotonic() < deadline, f"{name} did not catch up on {feed}"
                    consumer.follower.step(pulse)
            finally:
                consumer.close()


def assert_views_equal_replay(settings: Settings, names: list[str] | None = None) -> None:
    reports: list[VerifyReport] = verify(settings, *([names] if names else []), wait=30)
    problems = [
        f"{r.view}.{t.table}: {t.differences}" for r in reports for t in r.tables if not t.equal
    ]
    assert not problems, "\n".join(problems)
    notes = [n for r in reports for n in r.notes]
    assert not notes, notes
