"""The relay and the broker killed while events pour in: nothing lost, order kept per key.

Crash-safety is a claim about processes, so the relay here is a real ``sscard relay run``
process killed with SIGKILL at random moments, and the broker a real one stopped and killed.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import pytest

from devinfra.local_kafka import LocalKafka
from domain.cardholder.events import CARDHOLDER_EVENTS
from relay.publisher import RELAY
from relay.wire import parse_card_event
from service.bootstrap import BackOffice, build
from service.kafka_wiring import ensure_topics, relay_for, topics
from service.settings import Settings
from tests.conftest import make_settings, used_real_server
from tests.kafka_support import read_topic
from tests.ports import free_ports
from tests.support import HOLDER_ID_KEY, Clock, cancel, issue, pre_report, resident_id

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

SSCARD = str(Path(sys.executable).parent / "sscard")
BATCH = 200


def write_burst(
    settings: Settings,
    holders: int,
    seconds: float,
    done: threading.Event,
    until: threading.Event | None = None,
) -> None:
    """Five published events per holder (issue, pre-report, cancel, pre-report, cancel), paced
    at ``holders`` per ``seconds``; with ``until``, going on past ``holders`` until it is set."""
    try:
        with build(settings, clock=Clock()) as backoffice:
            office = backoffice.office
            start = time.monotonic()
            for i in itertools.count():
                if i >= holders and (until is None or until.is_set()):
                    return
                holder = resident_id()
                office.issue_card(issue(holder))
                for _ in range(2):
                    office.pre_report_loss(pre_report(holder))
                    office.cancel_pre_report(cancel(holder))
                ahead = start + seconds * (i + 1) / holders - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        done.set()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds (a bound
    for a stuck run, far above what a loaded machine needs)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


def published_events(backoffice: BackOffice) -> dict[UUID, tuple[UUID, int]]:
    return {
        p.event.event_id: (p.event.originator_id, p.event.originator_version)
        for p in backoffice.source.read(0, 10**7)
        if type(p.event) in CARDHOLDER_EVENTS
    }


def check_topic(settings: Settings, expected: dict[UUID, tuple[UUID, int]]) -> int:
    """Every stored event is on the topic, per-key order never skips ahead; returns duplicates."""
    records = read_topic(settings.bootstrap_servers, topics(settings).card_events)
    seen: dict[bytes, int] = defaultdict(int)
    received: set[UUID] = set()
    for record in records:
        envelope = parse_card_event(record.value)
        # A consumer that drops versions it has seen gets every event exactly once, in order:
        # a redelivered batch may step back, but nothing may jump past a missing version.
        assert envelope.stream_version <= seen[record.key] + 1, (
            f"stream {record.key!r} jumped from v{seen[record.key]} to v{envelope.stream_version}"
        )
        seen[record.key] = max(seen[record.key], envelope.stream_version)
        received.add(envelope.event_id)
    missing = set(expected) - received
    assert not missing, f"{len(missing)} events never reached Kafka"
    assert received <= set(expected)
    return len(records) - len(received)


def wait_until_published(settings: Settings, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with build(settings) as backoffice:
        while backoffice.views.position(RELAY) < backoffice.source.head():
            assert time.monotonic() < deadline, "the relay did not catch up"
            time.sleep(0.2)


def relay_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSCARD_", "POSTGRES_"))}
    env.pop("DATABASE_URL", None)
    env |= {
        "SSCARD_DATA_DIR": str(settings.data_dir),
        "SSCARD_STATE_DIR": str(settings.state_dir),
        "SSCARD_HOLDER_ID_KEY": HOLDER_ID_KEY,
        "SSCARD_TOPIC_PREFIX": settings.topic_prefix,
        "SSCARD_RELAY_BATCH_SIZE": str(BATCH),
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
    }
    with log.open("ab") as out:
        return subprocess.Popen([SSCARD, "relay", "run"], env=env, stdout=out, stderr=out)


def test_twenty_kill_9s_of_the_relay_during_a_burst_lose_nothing(
    tmp_path: Path, kafka_bootstrap: str
):
    settings = make_settings(tmp_path, kafka_bootstrap_servers=kafka_bootstrap)
    ensure_topics(settings)
    done, enough_kills = threading.Event(), threading.Event()
    # At least 2,000 holders (10,000 events) over about 40 s, and on until the last kill: every
    # kill lands while events pour in, however slowly a loaded machine starts each relay.
    writer = threading.Thread(
        target=write_burst, args=(settings, 2_000, 40.0, done), kwargs={"until": enough_kills}
    )
    writer.start()
    rng = random.Random(20261125)
    kills = 0
    log = tmp_path / "relay.log"
    with build(settings) as watcher:
        watcher.views.ensure_position(RELAY)
        try:
            while kills < 20:
                relay = relay_process(settings, log)
                # Kill it while it publishes and events are waiting: that is when a kill can
                # land between sending a batch and recording it. Waits are on those events.
                started = watcher.views.position(RELAY)
                wait_for(
                    lambda: watcher.views.position(RELAY) > started,  # noqa: B023
                    timeout=120,
                    what=f"relay {kills + 1} never published: {log.read_text()[-2000:]}",
                )
                time.sleep(rng.uniform(0.0, 0.4))
                wait_for(
                    lambda: watcher.views.position(RELAY) < watcher.source.head(),
                    timeout=120,
                    what="no events were waiting to be published",
                )
                relay.send_signal(signal.SIGKILL)
                relay.wait()
                kills += 1
        finally:
            enough_kills.set()
            writer.join()
        started = log.read_text().count("relay running")
        final = relay_process(settings, log)
        try:
            wait_for(  # it is up and following
                lambda: log.read_text().count("relay running") > started,
                timeout=120,
                what=log.read_text()[-2000:],
            )
            wait_until_published(settings, timeout=300)
        finally:
            final.send_signal(signal.SIGTERM)
            assert final.wait(timeout=60) == 0, log.read_text()[-2000:]
        expected = published_events(watcher)
    assert len(expected) >= 10_000
    assert kills == 20
    duplicates = check_topic(settings, expected)
    assert duplicates <= kills * BATCH, f"{duplicates} duplicates after {kills} kills"
    print(
        f"\nrelay crash test: {len(expected)} events, {kills} kill -9 (each with events "
        f"waiting), {duplicates} duplicates (bound {kills * BATCH})"
    )


@pytest.fixture
def private_broker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalKafka]:
    """A broker of this test's own, so stopping it disturbs no other test."""
    used_real_server(request, "kafka")
    port, controller_port = free_ports(2)
    broker = LocalKafka(port=port, controller_port=controller_port, state_dir=tmp_path / "broker")
    broker.start(timeout=120)
    yield broker
    broker.stop()


def test_stopping_and_killing_the_broker_while_publishing_loses_nothing(
    tmp_path: Path, private_broker: LocalKafka
):
    settings = make_settings(tmp_path, kafka_bootstrap_servers=private_broker.bootstrap_servers)
    ensure_topics(settings)
    done = threading.Event()
    writer = threading.Thread(target=write_burst, args=(settings, 600, 20.0, done))
    with build(settings) as backoffice:
        relay = relay_for(backoffice)
        stop = threading.Event()
        follower = threading.Thread(target=relay.run, args=(stop,), kwargs={"max_backoff": 1.0})
        follower.start()
        writer.start()
        try:
            time.sleep(4)
            private_broker.stop()  # graceful: SIGTERM
            time.sleep(3)
            private_broker.start(timeout=120)
            time.sleep(4)
            private_broker.kill()  # a crash: SIGKILL
            time.sleep(3)
            private_broker.start(timeout=120)
            writer.join()
            wait_until_published(settings, timeout=300)
        finally:
            stop.set()
            follower.join(timeout=60)
            relay.close()
        assert not follower.is_alive(), "the relay did not stop"
        expected = published_events(backoffice)
    assert len(expected) == 3_000
    duplicates = check_topic(settings, expected)
    print(f"\nbroker restart test: {len(expected)} events, {duplicates} duplicates")
