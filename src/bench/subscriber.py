"""``sscard bench subscriber --cards N``: a new settlement subscriber bootstrapping from the
compacted topic, its restart from a snapshot, and a pre-report's way from the command to the
subscriber's blocklist.

1. Setup (not measured): N card statuses on a ``settlement`` topic of the bench's own, one
   message per card, in the relay's wire form.
2. Bootstrap: a fresh process runs the subscriber (full JSON Schema check of every message)
   until it has confirmed reading every partition to its end, then stops, which writes its
   snapshot; it reports the time and its peak resident memory. The baseline, another fresh
   process, reads the same partitions to the same end offsets with a bare kafka-python consumer
   and keeps nothing.
3. Restart: 1% of the cards change (at least 100 messages), then a fresh process starts from the
   snapshot and reads only those; its time to caught up and the cards it holds.
4. Validation: the compiled schema's cost per message, against ``json.loads`` alone.
5. Latency: a temporary SQLite store, the relay following it live, a subscriber following the
   topic; M pre-reports are sent one after another, each timed from just before the command
   until the subscriber's ``on_change`` sees the card blocked. The command alone is timed too.

The last line: ``bootstrap_s=<a> peak_mb=<b> bare_peak_mb=<c> restart_s=<d>
subscriber_p99_ms=<e>``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.relay import _delete_topics, bench_settings
from bench.views import _settlement_message, card_numbers, percentile
from bench.workload import register
from consumers.settlement_client import CardSettlement, Contract, SettlementSubscriber
from relay.contracts import settlement_schema
from relay.publisher import RELAY
from relay.topics import Topics
from samples.stories import pre_report
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics, relay_for
from service.settings import Settings

Say = Callable[[str], None]


@dataclass(frozen=True)
class SubscriberFigures:
    cards: int
    bootstrap_seconds: float
    peak_mb: float
    bare_seconds: float
    bare_peak_mb: float
    restart_seconds: float
    restart_peak_mb: float
    restart_messages: int
    validate_us: float
    decode_us: float
    latencies_ms: tuple[float, ...]
    command_ms: tuple[float, ...]

    def machine_line(self) -> str:
        return (
            f"bootstrap_s={self.bootstrap_seconds:.1f} peak_mb={self.peak_mb:.0f} "
            f"bare_peak_mb={self.bare_peak_mb:.0f} restart_s={self.restart_seconds:.1f} "
            f"subscriber_p99_ms={percentile(self.latencies_ms, 99):.1f}"
        )


def _produce(bootstrap: str, topic: str, cards: int, say: Say) -> None:
    say(f"setup: {cards:,} card statuses onto {topic}")
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024
    )
    statuses = ("active", "blocked", "active", "cancelled")
    started = time.perf_counter()
    for n, card in enumerate(card_numbers(cards, "S")):
        producer.send(topic, key=card.encode(), value=_settlement_message(card, statuses[n % 4], n))
        if n % 200_000 == 199_999:
            say(f"setup:   {n + 1:,} ({time.perf_counter() - started:.0f} s)")
    producer.flush()
    producer.close()


def _probe(args: list[str]) -> dict[str, Any]:
    """Run ``bench.subscriber`` in a fresh process (its memory is its own)."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.subscriber", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bootstrap_probe(bootstrap: str, topic: str, snapshot: str) -> dict[str, Any]:
    """A subscriber from the topic's beginning (or from ``snapshot`` when it is there) until
    it has confirmed reading everything; stopping it writes the snapshot."""
    started = time.perf_counter()
    subscriber = SettlementSubscriber(
        bootstrap, Contract(settlement_schema()), topic, snapshot_path=snapshot
    )
    subscriber.start()
    if not subscriber.wait_caught_up(600):
        raise RuntimeError("the subscriber did not catch up in 600 s")
    seconds = time.perf_counter() - started
    subscriber.stop(timeout=60)
    return {
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "cards": len(subscriber),
        "messages": subscriber.messages,
        "invalid": subscriber.invalid,
        "restored": subscriber.restored_from_snapshot,
    }


def bare_probe(bootstrap: str, topic: str) -> dict[str, Any]:
    started = time.perf_counter()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    partitions = [
        TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    read = 0
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        for records in consumer.poll(timeout_ms=200).values():
            read += len(records)
    consumer.close()
    return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(), "cards": read}


def _latency(settings: Settings, commands: int, say: Say) -> tuple[list[float], list[float]]:
    blocked_at: dict[str, float] = {}

    def changed(card: CardSettlement) -> None:
        if card.blocked:
            blocked_at.setdefault(card.card_number, time.perf_counter())

    with open_back_office(settings) as backoffice:
        holders = register(backoffice.office, commands, say)
        cards = {rid: backoffice.office.holder(rid).card.number for rid in holders}
        relay = relay_for(backoffice)
        stop = threading.Event()
        thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
        thread.start()
        subscriber = SettlementSubscriber(
            settings.bootstrap_servers,
            Contract(settlement_schema()),
            Topics(settings.topic_prefix).settlement,
            on_change=changed,
        ).start()
        try:
            head = backoffice.source.head()
            while backoffice.views.position(RELAY) < head:
                time.sleep(0.01)
            subscriber.wait_caught_up(120)
            say(f"latency: {commands:,} pre-reports, relay and subscriber running live")
            latencies, command_ms = [], []
            for rid in holders:
                started = time.perf_counter()
                backoffice.office.pre_report_loss(pre_report(rid))
                command_ms.append((time.perf_counter() - started) * 1000)
                deadline = time.monotonic() + 10
                while cards[rid] not in blocked_at and time.monotonic() < deadline:
                    time.sleep(0.0005)
                if cards[rid] in blocked_at:
                    latencies.append((blocked_at[cards[rid]] - started) * 1000)
        finally:
            subscriber.stop()
            stop.set()
            thread.join(timeout=10)
            relay.close()
    return sorted(latencies), sorted(command_ms)


def _validation_cost(count: int = 50_000) -> tuple[float, float]:
    """Microseconds per message: the compiled schema's check, and json.loads alone."""
    contract = Contract(settlement_schema())
    values = [
        _settlement_message(card, "blocked", n) for n, card in enumerate(card_numbers(count, "V"))
    ]
    started = time.perf_counter()
    messages = [json.loads(value) for value in values]
    decode = time.perf_counter() - started
    started = time.perf_counter()
    problems = [contract.problem(message) for message in messages]
    check = time.perf_counter() - started
    if any(problems):
        raise RuntimeError(f"the bench's own messages break the contract: {problems[:1]}")
    return check / count * 1e6, decode / count * 1e6


def _change(bootstrap: str, topic: str, cards: int) -> int:
    """A restart's news: 1% of the cards (at least 100) blocked anew."""
    count = min(cards, max(100, cards // 100))
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20)
    for n, card in enumerate(card_numbers(count, "S")):
        producer.send(topic, key=card.encode(), value=_settlement_message(card, "blocked", n))
    producer.flush()
    producer.close()
    return count


def run_subscriber_bench(
    settings: Settings, cards: int = 100_000, commands: int = 300, say: Say = print
) -> SubscriberFigures:
    workdir = Path(tempfile.mkdtemp(prefix="sscard-bench-"))
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    bench = bench_settings(settings, workdir, prefix)
    topic = Topics(prefix).settlement
    load = os.getloadavg()
    say(f"bench: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    try:
        ensure_topics(bench)
        _produce(bench.bootstrap_servers, topic, cards, say)
        snapshot = str(workdir / "settlement.snapshot")
        say("bootstrap: a new subscriber process, then a bare consumer process")
        probe = _probe(["bootstrap", bench.bootstrap_servers, topic, snapshot])
        bare = _probe(["bare", bench.bootstrap_servers, topic])
        if probe["cards"] != cards or probe["invalid"]:
            raise RuntimeError(f"the subscriber holds {probe['cards']} cards, {cards} were sent")
        changed = _change(bench.bootstrap_servers, topic, cards)
        say(f"restart: {changed:,} cards changed, a new subscriber process from the snapshot")
        restart = _probe(["bootstrap", bench.bootstrap_servers, topic, snapshot])
        if not restart["restored"] or restart["messages"] != changed:
            raise RuntimeError(f"the restart read {restart['messages']} messages, not {changed}")
        if restart["cards"] != cards:
            raise RuntimeError(f"the restart holds {restart['cards']} cards, not {cards}")
        validate_us, decode_us = _validation_cost()
        latencies, command_ms = _latency(bench, commands, say)
    finally:
        _delete_topics(bench, [prefix], say)
        shutil.rmtree(workdir, ignore_errors=True)
    figures = SubscriberFigures(
        cards,
        probe["seconds"],
        probe["peak_mb"],
        bare["seconds"],
        bare["peak_mb"],
        restart["seconds"],
        restart["peak_mb"],
        restart["messages"],
        validate_us,
        decode_us,
        tuple(latencies),
        tuple(command_ms),
    )
    say("")
    say("== settlement subscriber ==")
    say(
        f"bootstrap: {cards:,} cards in {figures.bootstrap_seconds:.1f} s, peak "
        f"{figures.peak_mb:.0f} MB; bare consumer {figures.bare_seconds:.1f} s, "
        f"{figures.bare_peak_mb:.0f} MB (memory ratio "
        f"{figures.peak_mb / figures.bare_peak_mb:.2f}, goal < 2)"
    )
    say(
        f"restart from the snapshot: {figures.restart_messages:,} new messages read in "
        f"{figures.restart_seconds:.1f} s, peak {figures.restart_peak_mb:.0f} MB"
    )
    say(
        f"schema check: {figures.validate_us:.2f} us a message (json.loads alone "
        f"{figures.decode_us:.2f} us): {figures.validate_us * cards / 1e6:.1f} s of the bootstrap"
    )
    say(
        f"pre-report -> subscriber's blocklist: {len(latencies)} of {commands}: p50 "
        f"{percentile(latencies, 50):.1f} ms p99 {percentile(latencies, 99):.1f} ms; the "
        f"command alone p50 {percentile(command_ms, 50):.1f} ms p99 "
        f"{percentile(command_ms, 99):.1f} ms"
    )
    say(figures.machine_line())
    return figures


def main(argv: Sequence[str]) -> int:
    kind, bootstrap, topic, *snapshot = argv
    if kind == "bootstrap":
        print(json.dumps(bootstrap_probe(bootstrap, topic, *snapshot)))
    else:
        print(json.dumps(bare_probe(bootstrap, topic)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
