"""``sscard bench relay``: the relay against a bare kafka-python producer, and command latency.

One run, one broker, nothing of the user's touched: a fresh store (a temporary SQLite store, or
with ``store="postgres"`` a scratch schema of its own in ``DATABASE_URL``'s database) and topics
under a unique prefix, all removed at the end.

1. Setup (not measured): ``events`` card events written through the card office, a mix of
   pre-reports that are cancelled, pre-reports left standing, and full replacements (with and
   without a proxy). Issuing a card and reserving numbers also records reservation events; the
   relay reads those but publishes nothing for them.
2. Throughput: the relay publishes the whole store from position 0 (``publish_pending``); then a
   bare ``KafkaProducer`` with exactly the relay's settings (and kafka-python's own partitioner;
   the relay's faster one, giving the same partitions, is part of what is measured) sends the
   very bytes the relay sent (same keys, values, headers, topic configs and partition counts,
   under another prefix) and flushes. Both timings include creating the producer. Most card
   events become two messages (card-events plus settlement), so the report gives two ratios:
   ``relay_ratio`` = relay messages per second / bare messages per second on the very same
   messages: the relay's cost over a bare producer doing the same work, the figure on the
   machine-readable line; and the per-event ratio, card events per second / bare messages per
   second, which the second message per event caps at 1/1.91 = 0.52 even for a free relay.
3. Latency: the relay follows the store live in a thread; a consumer, assigned every partition of
   the card-events topic and positioned at its end before the first command, records when each
   event id becomes visible; ``latency_commands`` pre-reports on holders registered beforehand are
   sent one at a time, back to back by default, or paced at ``command_rate`` per second.
   Latency = receive time - time just before the command was called, so it includes the command.

The last line printed is ``relay_ratio=<x.xx> p99_ms=<y.y>``.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import psycopg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from psycopg import sql

from bench.latency import measure_latency
from bench.workload import BENCH_BIRTHS, populate, register
from relay.topics import Topics, topic_specs
from relay.wire import Message, messages_for
from samples.stories import Identities
from service.bootstrap import BackOffice, open_back_office
from service.kafka_wiring import client_config, ensure_topics, producer_config, relay_for
from service.settings import Settings

Say = Callable[[str], None]
Store = Literal["sqlite", "postgres"]


@dataclass(frozen=True)
class BenchResult:
    """The figures of one ``sscard bench relay`` run."""

    topic_prefix: str
    events: int  # card events the relay published (N)
    store_records: int  # records the relay read, reservations included
    relay_messages: int  # messages the relay sent for them (card-events + settlement)
    relay_seconds: float
    messages_on_broker: int  # counted on the relay's topics afterwards (== relay_messages)
    bare_messages: int
    bare_seconds: float
    latency_commands: int
    command_rate: float | None  # commands per second asked for; None: one after another
    command_seconds: float  # wall time of the command loop
    latencies_ms: tuple[float, ...]  # sorted, one per command whose event the consumer saw

    @property
    def relay_events_per_second(self) -> float:
        return self.events / self.relay_seconds

    @property
    def relay_messages_per_second(self) -> float:
        return self.relay_messages / self.relay_seconds

    @property
    def bare_messages_per_second(self) -> float:
        return self.bare_messages / self.bare_seconds

    @property
    def messages_per_event(self) -> float:
        return self.relay_messages / self.events

    @property
    def relay_ratio(self) -> float:
        """Like for like: messages per second, relay / bare producer, on the same bytes. The
        figure on the machine-readable line."""
        return self.relay_messages_per_second / self.bare_messages_per_second

    @property
    def per_event_ratio(self) -> float:
        """Card events through the relay per second / bare messages per second (at most
        1 / messages_per_event, whatever the relay costs)."""
        return self.relay_events_per_second / self.bare_messages_per_second

    @property
    def latency_samples(self) -> int:
        return len(self.latencies_ms)

    def percentile_ms(self, p: float) -> float:
        """Nearest-rank percentile (p in 0..100) of the latencies; NaN without samples."""
        if not self.latencies_ms:
            return math.nan
        rank = max(math.ceil(p / 100 * len(self.latencies_ms)), 1)
        return self.latencies_ms[rank - 1]

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p95_ms(self) -> float:
        return self.percentile_ms(95)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def max_ms(self) -> float:
        return self.percentile_ms(100)

    def machine_line(self) -> str:
        return f"relay_ratio={self.relay_ratio:.2f} p99_ms={self.p99_ms:.1f}"

    def report(self) -> list[str]:
        pace = (
            "one after another"
            if self.command_rate is None
            else f"paced at {self.command_rate:g}/s"
        )
        return [
            "",
            "== relay throughput ==",
            f"relay:  {self.events:,} card events ({self.store_records:,} store records, "
            f"reservations included) -> {self.relay_messages:,} messages in "
            f"{self.relay_seconds:.2f} s",
            f"        {self.relay_events_per_second:,.0f} card events/s, "
            f"{self.relay_messages_per_second:,.0f} messages/s "
            f"({self.messages_per_event:.2f} messages per card event: card-events + settlement)",
            f"bare:   {self.bare_messages:,} messages (the relay's exact bytes) in "
            f"{self.bare_seconds:.2f} s = {self.bare_messages_per_second:,.0f} messages/s",
            f"relay_ratio     = relay messages/s / bare messages/s (same bytes) = "
            f"{self.relay_ratio:.2f}",
            f"per-event ratio = relay card events/s / bare messages/s = "
            f"{self.per_event_ratio:.2f} (a relay costing nothing would score "
            f"1/{self.messages_per_event:.2f} = {1 / self.messages_per_event:.2f})",
            f"on the broker afterwards: {self.messages_on_broker:,} messages on the relay's topics",
            "",
            "== pre-report command -> visible to a card-events consumer ==",
            f"{self.latency_commands:,} commands {pace} in {self.command_seconds:.2f} s; "
            f"{self.latency_samples:,} seen by the consumer",
            f"p50 {self.p50_ms:.1f} ms  p95 {self.p95_ms:.1f} ms  p99 {self.p99_ms:.1f} ms  "
            f"max {self.max_ms:.1f} ms",
            self.machine_line(),
        ]


def run_relay_bench(
    settings: Settings,
    events: int = 20_000,
    latency_commands: int = 1_000,
    say: Say = print,
    command_rate: float | None = None,
    store: Store = "sqlite",
) -> BenchResult:
    """Run the benchmark on the broker ``settings`` names, in a store and topics of its own.

    ``command_rate``: pre-reports per second in the latency run (open loop: each command starts
    at its slot, or at once when the previous one overran). None sends them back to back, which
    measures how fast the relay drains a burst as much as latency: the command loop, the relay and
    the consumer then share one saturated interpreter.
    """
    if events < 1 or latency_commands < 1:
        raise ValueError("events and latency_commands must be at least 1")
    if command_rate is not None and command_rate <= 0:
        raise ValueError("command_rate must be positive")
    with scratch(settings, store) as own:
        bench, prefix = own.settings, own.prefix
        bare = bench.model_copy(update={"topic_prefix": f"{prefix}-bare"})
        say(f"bench: broker {bench.bootstrap_servers}, topics {prefix}.*, store {own.where}")
        load = os.getloadavg()
        say(f"bench: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        provisioned: list[str] = []  # prefixes whose topics exist (and are deleted at the end)
        try:
            for topic_settings in (bench, bare):
                ensure_topics(topic_settings)
                provisioned.append(topic_settings.topic_prefix)
            with open_back_office(bench) as backoffice:
                written = populate(
                    backoffice.office, events, Identities("110105", "B", born=BENCH_BIRTHS), say
                )
                relay_figures = _measure_relay(backoffice, say)
                bare_seconds = _measure_bare(bench, bare, relay_figures.messages, say)
                holders = register(backoffice.office, latency_commands, say)
                latency = measure_latency(backoffice, holders, command_rate, say)
        finally:
            if provisioned:
                _delete_topics(bench, provisioned, say)
    if relay_figures.card_events != written:
        raise RuntimeError(
            f"the relay published {relay_figures.card_events} card events, {written} were written"
        )
    result = BenchResult(
        topic_prefix=prefix,
        events=relay_figures.card_events,
        store_records=relay_figures.store_records,
        relay_messages=len(relay_figures.messages),
        relay_seconds=relay_figures.seconds,
        messages_on_broker=relay_figures.on_broker,
        bare_messages=len(relay_figures.messages),
        bare_seconds=bare_seconds,
        latency_commands=latency_commands,
        command_rate=command_rate,
        command_seconds=latency.command_seconds,
        latencies_ms=latency.latencies_ms,
    )
    for line in result.report():
        say(line)
    return result


def bench_settings(settings: Settings, workdir: Path, prefix: str) -> Settings:
    """The caller's broker and tuning, with a store and topics of the bench's own."""
    return Settings(
        env=settings.env,
        data_dir=workdir / "data",
        state_dir=workdir / "state",
        database_url=None,
        persistence_module=None,
        postgres_schema=None,
        kafka_bootstrap_servers=settings.bootstrap_servers,
        kafka_security_protocol=settings.kafka_security_protocol,
        kafka_sasl_mechanism=settings.kafka_sasl_mechanism,
        kafka_sasl_username=settings.kafka_sasl_username,
        kafka_sasl_password=settings.kafka_sasl_password,
        kafka_ssl_cafile=settings.kafka_ssl_cafile,
        kafka_partitions=settings.kafka_partitions,
        kafka_replication_factor=settings.kafka_replication_factor,
        relay_batch_size=settings.relay_batch_size,
        topic_prefix=prefix,
        holder_id_key=settings.holder_id_key,
        region_policies=settings.region_policies,
        aggregate_cache_size=settings.aggregate_cache_size,
    )


def database_url_of(settings: Settings) -> str:
    """DATABASE_URL of the settings, whether they were given it or the POSTGRES_* variables."""
    pg = settings.postgres()
    return (
        f"postgresql://{quote(pg.user)}:{quote(pg.password.get_secret_value())}"
        f"@{pg.host}:{pg.port}/{quote(pg.dbname)}"
    )


def create_schema(settings: Settings, schema: str) -> None:
    with psycopg.connect(settings.postgres().dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def drop_schema(settings: Settings, schema: str) -> None:
    with psycopg.connect(settings.postgres().dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@dataclass(frozen=True)
class Scratch:
    """A bench's own store and topic prefix: a temporary folder, and on PostgreSQL a schema."""

    settings: Settings
    prefix: str
    workdir: Path
    schema: str | None

    @property
    def where(self) -> str:
        return f"PostgreSQL schema {self.schema}" if self.schema else f"SQLite in {self.workdir}"


@contextmanager
def scratch(settings: Settings, store: str) -> Iterator[Scratch]:
    """A store of the bench's own (``store``: sqlite or postgres), removed afterwards."""
    if store == "postgres" and not settings.uses_postgres:
        raise ValueError("--store postgres needs DATABASE_URL (the server to make a schema in)")
    workdir = Path(tempfile.mkdtemp(prefix="sscard-bench-"))
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    bench = bench_settings(settings, workdir, prefix)
    schema = None
    try:
        if store == "postgres":
            schema = prefix
            create_schema(settings, schema)
            bench = bench.model_copy(
                update={"database_url": database_url_of(settings), "postgres_schema": schema}
            )
        yield Scratch(bench, prefix, workdir, schema)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if schema is not None:
            drop_schema(settings, schema)


# ---- throughput ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RelayFigures:
    card_events: int
    store_records: int
    messages: list[Message]
    seconds: float
    on_broker: int


def _measure_relay(backoffice: BackOffice, say: Say) -> _RelayFigures:
    settings = backoffice.settings
    topics = Topics(settings.topic_prefix)
    head = backoffice.source.head()
    say(f"setup: encoding the {head:,} store records as the relay will (for the bare producer)")
    messages: list[Message] = []
    card_events = 0
    position = 0
    while position < head:
        batch = backoffice.source.notifications(position, 1_000)
        for notification in batch:
            produced = list(messages_for(backoffice.source.stored_form(notification), topics))
            if any(m.topic == topics.card_events for m in produced):
                card_events += 1
            messages += produced
        position = batch[-1].id
    say(f"relay: publishing {head:,} store records from position 0")
    relay = relay_for(backoffice)
    try:
        started = time.perf_counter()
        records = relay.publish_pending()
        seconds = time.perf_counter() - started
    finally:
        relay.close()
    if records != head:
        raise RuntimeError(f"the relay published {records} store records, the head is {head}")
    say(f"relay:   done in {seconds:.2f} s")
    on_broker = _count_messages(settings, [topics.card_events, topics.settlement])
    return _RelayFigures(card_events, records, messages, seconds, on_broker)


def _measure_bare(
    settings: Settings, bare: Settings, messages: Sequence[Message], say: Say
) -> float:
    """Seconds for a bare producer, the relay's settings, to send and flush the same bytes."""
    relay_topics, bare_topics = Topics(settings.topic_prefix), Topics(bare.topic_prefix)
    rename = {
        relay_topics.card_events: bare_topics.card_events,
        relay_topics.settlement: bare_topics.settlement,
    }
    wire = [(rename[m.topic], m.key, m.value, m.headers) for m in messages]
    say(f"bare:   sending {len(wire):,} messages with a bare KafkaProducer")
    started = time.perf_counter()
    producer = KafkaProducer(**producer_config(bare))
    try:
        futures = [
            producer.send(topic, value=value, key=key, headers=headers)
            for topic, key, value, headers in wire
        ]
        producer.flush(timeout=60)
        for future in futures:
            future.get(timeout=0)
        seconds = time.perf_counter() - started
    finally:
        producer.close(timeout=10)
    say(f"bare:     done in {seconds:.2f} s")
    return seconds


def _count_messages(settings: Settings, topic_names: Sequence[str]) -> int:
    consumer = KafkaConsumer(**client_config(settings), group_id=None, client_id="sscard-bench")
    try:
        partitions = [
            TopicPartition(name, p)
            for name in topic_names
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        ends: dict[Any, int] = consumer.end_offsets(partitions)
        return sum(ends.values())
    finally:
        consumer.close()


# ---- cleanup ----------------------------------------------------------------------------------


def _delete_topics(settings: Settings, prefixes: Sequence[str], say: Say) -> None:
    """Best effort: a broker that is gone must not hide why the run failed."""
    names = [
        spec.name
        for prefix in prefixes
        for spec in topic_specs(Topics(prefix), settings.kafka_partitions)
    ]
    try:
        admin = KafkaAdminClient(
            **client_config(settings),
            client_id="sscard-bench-admin",
            request_timeout_ms=10_000,
        )
        try:
            admin.delete_topics(names, raise_errors=False)
        finally:
            admin.close()
    except (KafkaError, OSError) as exc:
        say(f"bench: could not delete the topics {', '.join(names)}: {exc!r}")
        return
    say(f"bench: removed the topics {', '.join(f'{p}.*' for p in prefixes)}")
