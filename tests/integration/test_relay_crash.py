"""The relay and the broker killed while events pour in: nothing lost, order kept per key.

Crash-safety is a claim about processes, so the relay here is a real ``sscard relay run``
process killed with SIGKILL at random moments, and the broker a real one stopped and killed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devinfra.local_kafka import LocalKafka
from relay.publisher import RELAY
from service.bootstrap import open_back_office
from service.kafka_wiring import ensure_topics, relay_for
from service.settings import Settings
from tests.back_office import (
    check_topic,
    published_events,
    start_sscard,
    wait_until_published,
    write_burst,
)
from tests.conftest import make_settings, used_real_server
from tests.kafka_support import private_broker as own_broker

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

BATCH = 200


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds (a bound
    for a stuck run, far above what a loaded machine needs)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


def relay_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    return start_sscard(["relay", "run"], settings, log, SSCARD_RELAY_BATCH_SIZE=str(BATCH))


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
    with open_back_office(settings) as watcher:
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
    with own_broker(tmp_path / "broker") as broker:
        yield broker


def test_stopping_and_killing_the_broker_while_publishing_loses_nothing(
    tmp_path: Path, private_broker: LocalKafka
):
    settings = make_settings(tmp_path, kafka_bootstrap_servers=private_broker.bootstrap_servers)
    ensure_topics(settings)
    done = threading.Event()
    writer = threading.Thread(target=write_burst, args=(settings, 600, 20.0, done))
    with open_back_office(settings) as backoffice:
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
