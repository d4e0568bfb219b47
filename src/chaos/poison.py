"""A poison message: bytes no consumer can decode, sent on the card events topic under a key of
the nemesis's own. Every view that reads the topic parks it (``sscard dead-letters list``) and
goes on with its other keys; the operator then discards it (``sscard dead-letters discard``),
as the runbook says. The key's prefix keeps it out of the relay's messages the invariants read."""

from __future__ import annotations

from kafka import KafkaProducer

from application.views import discard_dead_letters, list_dead_letters
from relay.topics import Topics
from service.settings import Settings

KEY_PREFIX = "chaos-poison-"
POISON = b"{not json"


def is_poison(key: str) -> bool:
    return key.startswith(KEY_PREFIX)


def inject(settings: Settings, key: str) -> None:
    """The poison on the card events topic, acknowledged by the broker."""
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, retries=5)
    try:
        producer.send(Topics(settings.topic_prefix).card_events, key=key.encode(), value=POISON)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)


def discard(settings: Settings, keys: set[str]) -> int:
    """Every parked message of ``keys``, in every view, discarded as the operator does it;
    returns how many."""
    parked = list_dead_letters(settings, None).messages
    discarded = 0
    for view, key in sorted({(m.view, m.key) for m in parked if m.key in keys}):
        discarded += discard_dead_letters(settings, view, key).discarded
    return discarded


def parked(settings: Settings) -> list[str]:
    """Every message still parked, as a line."""
    return [
        f"{m.view}: key {m.key} at {m.topic}[{m.partition}]@{m.offset} parked ({m.reason})"
        for m in list_dead_letters(settings, None).messages
    ]
