"""The bench's latency run: a pre-report command until its message is visible to a consumer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from domain.application import CardOffice
from relay.publisher import RELAY
from relay.topics import Topics
from samples.stories import pre_report
from service.bootstrap import BackOffice
from service.kafka_wiring import client_config, relay_for

Say = Callable[[str], None]

_CATCH_UP_TIMEOUT = 60.0
_RECEIVE_TIMEOUT = 30.0


class _Watcher(threading.Thread):
    """A consumer on the card-events topic noting when each event id is first seen."""

    def __init__(self, client: dict[str, Any], topic: str) -> None:
        super().__init__(name="bench-consumer", daemon=True)
        self._client = client
        self._topic = topic
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.seen: dict[str, float] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        consumer = None
        try:
            consumer = KafkaConsumer(
                **self._client,
                group_id=None,
                enable_auto_commit=False,
                client_id="sscard-bench-latency",
            )
            # Assigned by hand and positioned at the end before the first command: no group
            # rebalance to wait for, no message missed.
            partitions = [
                TopicPartition(self._topic, p)
                for p in sorted(consumer.partitions_for_topic(self._topic) or ())
            ]
            if not partitions:
                raise RuntimeError(f"topic {self._topic} has no partitions")
            consumer.assign(partitions)
            consumer.seek_to_end(*partitions)
            for tp in partitions:
                consumer.position(tp)  # resolves the end offset now, not at the first poll
            self.ready.set()
            while not self.stop.is_set():
                polled = consumer.poll(timeout_ms=50)
                now = time.perf_counter()
                for records in polled.values():
                    for record in records:
                        for key, value in record.headers:
                            if key == "event_id":
                                self.seen.setdefault(value.decode(), now)
        except BaseException as exc:
            self.error = exc
            self.ready.set()
        finally:
            if consumer is not None:
                consumer.close()


@dataclass(frozen=True)
class Latency:
    command_seconds: float
    latencies_ms: tuple[float, ...]


def measure_latency(
    backoffice: BackOffice, holders: Sequence[str], command_rate: float | None, say: Say
) -> Latency:
    settings = backoffice.settings
    stop = threading.Event()
    relay = relay_for(backoffice)
    relay_errors: list[BaseException] = []

    def follow() -> None:
        try:
            relay.run(stop)
        except BaseException as exc:
            relay_errors.append(exc)

    relay_thread = threading.Thread(target=follow, name="bench-relay", daemon=True)
    watcher = _Watcher(client_config(settings), Topics(settings.topic_prefix).card_events)
    relay_thread.start()
    try:
        _wait_caught_up(backoffice, relay_errors)
        watcher.start()
        if not watcher.ready.wait(_CATCH_UP_TIMEOUT) or watcher.error is not None:
            raise RuntimeError(f"the latency consumer did not start: {watcher.error!r}")
        say(f"latency: {len(holders):,} pre-report commands, relay running live")
        started_at, command_seconds = _send_pre_reports(backoffice.office, holders, command_rate)
        deadline = time.monotonic() + _RECEIVE_TIMEOUT
        while time.monotonic() < deadline and not relay_errors and watcher.error is None:
            if all(event_id in watcher.seen for event_id in started_at):
                break
            time.sleep(0.05)
    finally:
        stop.set()
        watcher.stop.set()
        relay_thread.join(timeout=30)
        if watcher.is_alive():
            watcher.join(timeout=30)
        relay.close()
    if relay_errors:
        raise RuntimeError(f"the relay failed: {relay_errors[0]!r}") from relay_errors[0]
    if watcher.error is not None:
        raise RuntimeError(f"the latency consumer failed: {watcher.error!r}") from watcher.error
    seen = watcher.seen
    latencies = sorted(
        (seen[event_id] - started) * 1000
        for event_id, started in started_at.items()
        if event_id in seen
    )
    missing = len(started_at) - len(latencies)
    if missing:
        say(f"latency: {missing} events not seen within {_RECEIVE_TIMEOUT:.0f} s")
    return Latency(command_seconds, tuple(latencies))


def _send_pre_reports(
    office: CardOffice, holders: Sequence[str], command_rate: float | None
) -> tuple[dict[str, float], float]:
    """One pre-report per holder, in turn; when each started (by event id), and the wall time."""
    started_at: dict[str, float] = {}
    interval = None if command_rate is None else 1.0 / command_rate
    loop_started = time.perf_counter()
    for i, rid in enumerate(holders):
        if interval is not None:
            delay = loop_started + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        command = pre_report(rid)
        started = time.perf_counter()
        event = office.pre_report_loss(command)
        started_at[str(event.event_id)] = started
    return started_at, time.perf_counter() - loop_started


def _wait_caught_up(backoffice: BackOffice, relay_errors: Sequence[BaseException]) -> None:
    """Until the live relay has published everything recorded so far."""
    head = backoffice.source.head()
    deadline = time.monotonic() + _CATCH_UP_TIMEOUT
    while backoffice.views.position(RELAY) < head:
        if relay_errors:
            raise RuntimeError(f"the relay failed: {relay_errors[0]!r}") from relay_errors[0]
        if time.monotonic() > deadline:
            raise RuntimeError("the relay did not catch up with the store in time")
        time.sleep(0.01)
