"""Kafka clients as the settings describe them, and the relay wired to the store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from relay.partitioner import CachedMurmur2Partitioner
from relay.publisher import RELAY, Producer, Relay
from relay.topics import TopicConfigConflict, Topics, provision, topic_specs
from service.bootstrap import BackOffice
from service.settings import Settings
from store.persistence import mapper_of
from tracking.board import Board

log = logging.getLogger(__name__)


class _NoPasswordInKafkaLogs(logging.Filter):
    """kafka-python's admin client logs its whole configuration at DEBUG (``sscard -v``),
    SASL password included: the password is masked before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        # logging unpacks a lone dict argument: record.args is then the dict itself.
        args = record.args
        if isinstance(args, Mapping) and args.get("sasl_plain_password"):
            record.args = {**args, "sasl_plain_password": "********"}
        return True


logging.getLogger("kafka.admin.client").addFilter(_NoPasswordInKafkaLogs())


def topics(settings: Settings) -> Topics:
    return Topics(settings.topic_prefix)


def kafka_security(settings: Settings) -> dict[str, Any]:
    """kafka-python's security arguments from the settings (KAFKA_SECURITY_PROTOCOL and the
    KAFKA_SASL_* / KAFKA_SSL_CAFILE variables): the one place every client of ours takes them
    from. The settings refused half a configuration already (``kafka_security_problem``)."""
    protocol = settings.kafka_security_protocol
    config: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        cafile = settings.kafka_ssl_cafile
        # Always checked: a certificate valid for another host is someone else's broker.
        config |= {"ssl_cafile": str(cafile) if cafile else None, "ssl_check_hostname": True}
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        password = settings.kafka_sasl_password
        config |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": password.get_secret_value() if password else None,
        }
    return config


RECONNECT_BACKOFF_MAX_MS = 1_000


def client_config(settings: Settings) -> dict[str, Any]:
    """Where the brokers are and how to reach them: the start of every client's arguments."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        **kafka_security(settings),
        # After a broker restart every client reconnects within a second of its first answer.
        # kafka-python doubles the wait after each refused connection up to 30 s (Java's client
        # stops at 1 s): a broker down for 10-20 s (stop, start of the JVM) left the relay
        # acknowledging nothing for up to 30 s more, settlement suspensions as late
        # (tests/integration/test_relay_broker_restart.py), and the view consumers as late to
        # apply them. One attempt a second at most costs nothing worth saving: these are the
        # clients of the back office's own brokers.
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
    }


def producer_config(settings: Settings) -> dict[str, Any]:
    """The relay's producer settings; the benchmark's bare producer uses exactly these (with
    kafka-python's own partitioner: the relay's faster one is part of what is measured)."""
    return {
        **client_config(settings),
        "acks": "all",
        "enable_idempotence": True,
        "max_in_flight_requests_per_connection": 5,  # ordered under idempotence
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "request_timeout_ms": 10_000,
        "delivery_timeout_ms": 30_000,
        "max_block_ms": 10_000,
        # Fail fast when the broker is down: the relay's runner waits and retries.
        "bootstrap_timeout_ms": 3_000,
        "client_id": "sscard-relay",
    }


def new_producer(settings: Settings) -> Producer:
    # The same partitions as kafka-python's (and Java's) default partitioner, computed faster.
    producer: Producer = KafkaProducer(
        **producer_config(settings), partitioner=CachedMurmur2Partitioner()
    )
    return producer


def ensure_topics(settings: Settings) -> list[str]:
    """Create or check every topic; raises TopicConfigConflict on a contradicting topic."""
    admin = KafkaAdminClient(
        **client_config(settings),
        client_id="sscard-admin",
        request_timeout_ms=10_000,
        # A broker that is down must not hold the relay's runner (or a stop) for long.
        bootstrap_timeout_ms=3_000,
    )
    try:
        specs = topic_specs(
            topics(settings), settings.kafka_partitions, settings.kafka_replication_factor
        )
        return provision(admin, specs)
    finally:
        admin.close()


class TopicsNotReady(KafkaError):  # type: ignore[misc]  # kafka-python is untyped
    """Another worker's attempt to create the topics has just failed."""


class TopicsGate:
    """The topics of one process (``sscard run``, ``relay run``, ``consumers run``), created or
    checked once before the first worker that needs Kafka uses them: a consumer that subscribed
    before its topic existed could be given no partition, and a broker that creates topics on
    request would create them with its own defaults. Every worker that needs Kafka passes the
    gate first; while Kafka is down each waits it out as an outage of its own. One attempt at a
    time: the others share its outcome rather than each trying in turn, and a failure a moment
    ago is the answer until ``retry_after`` has passed (an attempt against a broker that is down
    takes seconds)."""

    def __init__(self, settings: Settings, retry_after: float = 2.0) -> None:
        self._settings = settings
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._failure = ""
        self._failed_at: float | None = None
        self.retry_after = retry_after

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def __call__(self) -> None:
        if self._ready.is_set():
            return
        failed_at = self._failed_at
        if failed_at is not None and time.monotonic() - failed_at < self.retry_after:
            raise TopicsNotReady(self._failure)
        if not self._lock.acquire(blocking=False):
            with self._lock:  # another worker's attempt: wait for its outcome
                pass
            if self._ready.is_set():
                return
            raise TopicsNotReady(self._failure or "the topics are not created yet")
        try:
            created = ensure_topics(self._settings)
        except Exception as exc:
            self._failure = f"{type(exc).__name__}: {exc}"
            self._failed_at = time.monotonic()
            raise
        finally:
            self._lock.release()
        self._ready.set()
        names = topics(self._settings)
        log.info(
            "ready: topics %s.* in place on %s (%s)",
            names.prefix,
            self._settings.bootstrap_servers,
            f"created {len(created)}" if created else "all existed",
        )


def topics_first(settings: Settings) -> TopicsGate:
    """Create or check the topics before any worker starts, and return the gate the workers
    pass (open already, unless Kafka was down: then each Kafka worker waits for it)."""
    gate = TopicsGate(settings)
    try:
        gate()
    except TopicConfigConflict:
        raise
    except Exception as exc:
        log.warning(
            "Kafka unavailable at start (%s: %s); the relay and the consumers wait for it",
            type(exc).__name__,
            str(exc)[:200],
        )
    return gate


def relay_for(
    backoffice: BackOffice,
    *,
    provision_topics: bool = False,
    gate: TopicsGate | None = None,
) -> Relay:
    """The relay of ``backoffice``'s store. ``provision_topics``: create or check the topics
    before the first batch (as ``sscard run`` does, through ``gate``), waiting out a broker
    that is not up."""
    settings = backoffice.settings
    if provision_topics and gate is None:
        gate = TopicsGate(settings)
    return Relay(
        backoffice.source,
        backoffice.views,
        lambda: new_producer(settings),
        topics(settings),
        batch_size=settings.relay_batch_size,
        ensure_topics=gate if provision_topics else None,
        board=Board(backoffice.views, RELAY),
        prefetch=mapper_of(backoffice.office).prefetch_keys,
        stall_seconds=stall_seconds(settings),
    )


def stall_seconds(settings: Settings) -> float:
    """How long the relay waits on an unacknowledging producer: beyond its delivery timeout
    (after which the producer itself gives up), so the bound only catches a wedged one."""
    config = producer_config(settings)
    waited_ms: int = config["delivery_timeout_ms"] + config["request_timeout_ms"]
    return waited_ms / 1000 + 5.0
