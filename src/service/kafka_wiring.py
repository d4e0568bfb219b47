"""Kafka clients as the settings describe them, and the relay wired to the store."""

from __future__ import annotations

import logging
import threading
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from relay.publisher import Producer, Relay
from relay.topics import Topics, provision, topic_specs
from service.bootstrap import BackOffice
from service.settings import Settings

log = logging.getLogger(__name__)


def topics(settings: Settings) -> Topics:
    return Topics(settings.topic_prefix)


def producer_config(settings: Settings) -> dict[str, Any]:
    """The relay's producer; the benchmark's bare producer uses exactly the same settings."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "max_in_flight_requests_per_connection": 5,  # ordered under idempotence
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "request_timeout_ms": 10_000,
        "delivery_timeout_ms": 30_000,
        "max_block_ms": 10_000,
        # Fail fast when the broker is down: the relay's own loop waits and retries.
        "bootstrap_timeout_ms": 3_000,
        "client_id": "sscard-relay",
    }


def new_producer(settings: Settings) -> Producer:
    producer: Producer = KafkaProducer(**producer_config(settings))
    return producer


def ensure_topics(settings: Settings) -> list[str]:
    """Create or check every topic; raises TopicConfigConflict on a contradicting topic."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="sscard-admin",
        request_timeout_ms=10_000,
    )
    try:
        specs = topic_specs(
            topics(settings), settings.kafka_partitions, settings.kafka_replication_factor
        )
        return provision(admin, specs)
    finally:
        admin.close()


def relay_for(backoffice: BackOffice) -> Relay:
    settings = backoffice.settings
    return Relay(
        backoffice.source,
        backoffice.views,
        lambda: new_producer(settings),
        topics(settings),
        batch_size=settings.relay_batch_size,
    )


def run_relay(backoffice: BackOffice, stop: threading.Event, retry_seconds: float = 5.0) -> None:
    """Run as the one active relay: wait as a standby while another holds the lock, provision the
    topics (waiting out a broker that is not up yet), then follow the store until ``stop``."""
    standby_logged = False
    while not backoffice.views.try_exclusive("relay"):
        if not standby_logged:
            log.info("another relay is active on this store; standing by")
            standby_logged = True
        if stop.wait(retry_seconds):
            return
    outage_logged = False
    while not stop.is_set():
        try:
            ensure_topics(backoffice.settings)
            break
        except KafkaError as exc:
            if not outage_logged:
                log.warning("Kafka not reachable to provision topics (%s); retrying", exc)
                outage_logged = True
            stop.wait(retry_seconds)
    relay = relay_for(backoffice)
    try:
        status = relay.status()
        log.info("relay running: store head %d, published %d", status.head, status.published)
        relay.run(stop)
    finally:
        relay.close()
